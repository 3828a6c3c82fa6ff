"""What every bridge bench run shares: the sandbox and bridge processes, the positions, /proc.

`sandbox_process()` starts the embedded sandbox (its own process) and `make_drivers()` gives it
drivers with an assigned order each (so their locations are accepted, not held);
`bridge_process()` starts a `driver-agent bridge` (pinned with taskset, its whole process tree;
`workers` > 1: split across Ray workers, Ray's files in a short dir of its own) that maps `van-K`
to `drv-K`; `Load` builds each input kind's request for the next position (devices round robin,
increasing device times). `metric()` sums a sample of the bridge's /metrics, `outbox_rows()`
counts the outbox files' pending rows with SQLite itself (every worker's file).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

KINDS = ("osmand-get", "osmand-post", "osmand-json", "traccar", "ndjson")
SECRET = "sandbox-fleet-secret"
T0_MS = 1_900_000_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_profile(prefix: str, name: str, pid: int, duration_s: float) -> None:
    """py-spy's raw (collapsed) stacks of `pid`'s threads for `duration_s` into PREFIX-NAME.txt."""
    spy = [str(Path(sys.executable).parent / "py-spy"), "record", "-f", "raw", "-r", "250",
           "-d", str(round(duration_s)), "-p", str(pid), "-o", f"{prefix}-{name}.txt",
           "--threads", "--nonblocking"]  # fmt: skip
    subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def outbox_files(path: Path) -> list[Path]:
    """The outbox file and every worker's (`<stem>.<k>-of-<N><suffix>`) that exist."""
    found = [path] if path.is_file() else []
    return found + sorted(path.parent.glob(f"{path.stem}.*-of-*{path.suffix}"))


def outbox_rows(path: Path) -> int:
    """Pending rows in the outbox file(s), read by SQLite itself (not the bridge's gauge): the
    sum over every worker's file when the bridge ran split across workers."""
    total = 0
    for file in outbox_files(path):
        with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
            total += int(db.execute("SELECT count(*) FROM pending").fetchone()[0])
    return total


async def make_drivers(url: str, count: int) -> None:
    """`count` drivers the sandbox knows: one order each, assigned through the fleet API."""
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=60) as http:

        async def token(client_id: str, secret: str) -> dict[str, str]:
            body = {"grant_type": "client_credentials", "client_id": client_id}
            answer = await http.post("/oauth/token", json=body | {"client_secret": secret})
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        merchant = await token("sandbox-merchant", "sandbox-merchant-secret")
        fleet = await token("sandbox-fleet", SECRET)
        gate = asyncio.Semaphore(32)

        async def one(k: int) -> None:
            async with gate:
                created = await http.post(
                    "/services/create_task",
                    headers=merchant,
                    json={
                        "title": f"bench {k}",
                        "customer": {"name": "Customer", "phone": "+358401234567"},
                        "way_points": [{"lat": 60.17, "lng": 24.94}, {"lat": 60.169, "lng": 24.95}],
                    },
                )
                task_id = created.json()["task"]["id"]
                assigned = await http.post(
                    "/open_fleet_services/assign_driver",
                    headers=fleet,
                    json={"task_id": task_id, "user": {"external_id": f"drv-{k}", "name": "D"}},
                )
                assert assigned.status_code == 200, assigned.text

        await asyncio.gather(*(one(k) for k in range(count)))


async def wait_ready(url: str, path: str, timeout_s: float = 30.0) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        for _ in range(round(timeout_s * 10)):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url}{path} did not answer 200 in {timeout_s:g} s")


@contextlib.asynccontextmanager
async def sandbox_process(work: Path, drivers: int) -> AsyncIterator[str]:
    """The embedded sandbox in its own process with `drivers` assigned drivers; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (work / "sandbox.log").open("wb") as log:
        command = [sys.executable, "-m", "driver_agent", "sandbox", "--port", str(port)]
        sandbox = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)  # noqa: ASYNC220
    try:
        await wait_ready(url, "/_sandbox/state")
        await make_drivers(url, drivers)
        yield url
    finally:
        sandbox.terminate()
        sandbox.wait(30)


@dataclass
class Bridge:
    process: subprocess.Popen[bytes]
    port: int
    outbox: Path  # with workers > 1: the stem of every worker's file (outbox_files())
    workers: int = 1
    ray_dir: str = ""  # with workers > 1: RAY_TMPDIR

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def bridge_process(
    work: Path,
    name: str,
    sandbox_url: str,
    devices: int,
    core: int | str,
    ndjson: bool = False,
    workers: int = 1,
) -> AsyncIterator[Bridge]:
    """A `driver-agent bridge` mapping van-K to drv-K for K < `devices`, pinned to `core` (a
    taskset list, "" for none; every process it starts inherits it). `workers` > 1: split
    across Ray workers (`--workers`), with Ray's files under a short dir of its own (Ray honours
    RAY_TMPDIR; its unix sockets' paths must stay under 108 bytes), removed at the end."""
    port = free_port()
    outbox = work / f"outbox-{name}.sqlite3"
    device_map = work / f"devices-{devices}.json"
    device_map.write_text(json.dumps({f"van-{k}": f"drv-{k}" for k in range(devices)}))
    config = work / f"bridge-{name}.toml"
    config.write_text(
        f'[api]\napi_url = "{sandbox_url}"\nclient_id = "sandbox-fleet"\n'
        f'[bridge]\nlisten_port = {port}\noutbox = "{outbox}"\n'
        f'device_map_file = "{device_map}"\n'
        f'[webhooks]\nport = {free_port()}\n[log]\nlevel = "warning"\nformat = "json"\n'
    )
    command = [sys.executable, "-m", "driver_agent", "bridge", "--config", str(config)]
    if str(core):
        command = ["taskset", "-c", str(core), *command]
    if ndjson:
        command += ["--ndjson", "-"]
    env = {**os.environ, "DRIVER_AGENT_CLIENT_SECRET": SECRET}
    ray_dir = f"/tmp/rb-{os.getpid()}-{name}"  # short on purpose, see above
    if workers > 1:
        command += ["--workers", str(workers)]
        os.makedirs(ray_dir, exist_ok=True)
        env["RAY_TMPDIR"] = ray_dir
    with (work / f"bridge-{name}.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stderr=log)  # noqa: ASYNC220
    bridge = Bridge(process, port, outbox, workers, ray_dir if workers > 1 else "")
    try:
        await wait_ready(bridge.url, "/healthz", 120 if workers > 1 else 30)
        yield bridge
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(60)
        if process.returncode is None:
            process.kill()
            process.wait()
        if workers > 1:
            shutil.rmtree(ray_dir, ignore_errors=True)


async def metric(http: httpx.AsyncClient, name: str) -> float:
    """The sum of every sample of `name` on the bridge's /metrics."""
    text = (await http.get("/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def wait_drained(http: httpx.AsyncClient, timeout_s: float) -> float:
    """Wait until the outbox gauge is 0; the wall seconds it took."""
    start = time.perf_counter()
    while await metric(http, "driver_agent_bridge_outbox_depth") > 0:
        if time.perf_counter() - start > timeout_s:
            raise RuntimeError(f"the outbox did not drain in {timeout_s:g} s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - start


def percentile_ms(sorted_s: list[float], q: float) -> float:
    if not sorted_s:
        return 0.0
    return round(sorted_s[min(len(sorted_s) - 1, int(q * len(sorted_s)))] * 1000, 2)


def _osmand_query(device: str, lat: float, lng: float, t_ms: int) -> str:
    return urlencode(
        {
            "id": device,
            "lat": f"{lat:.6f}",
            "lon": f"{lng:.6f}",
            "timestamp": t_ms,
            "speed": "12.5",
            "bearing": "90",
            "accuracy": "5",
        }
    )


@dataclass
class Load:
    """The generator's shared state: which device is next, each device's next time."""

    kind: str
    devices: int
    port: int
    running: bool = True
    counting: bool = False
    sent: int = 0
    accepted: int = 0
    failed: int = 0
    seq: int = 0
    latencies: list[float] = field(default_factory=list)

    def next_position(self) -> tuple[str, float, float, int]:
        k = self.seq
        self.seq += 1
        device = k % self.devices
        tick = k // self.devices
        lat = 60.10 + (device % 100) * 1e-3 + tick * 1e-5
        lng = 24.90 + (device // 100) * 1e-3
        return f"van-{device}", lat, lng, T0_MS + tick * 1000

    def request(self) -> bytes:
        device, lat, lng, t_ms = self.next_position()
        host = f"Host: 127.0.0.1:{self.port}\r\n"
        if self.kind == "osmand-get":
            query = _osmand_query(device, lat, lng, t_ms)
            return f"GET /?{query} HTTP/1.1\r\n{host}\r\n".encode()
        if self.kind == "osmand-post":
            body = _osmand_query(device, lat, lng, t_ms).encode()
            kind, path = "application/x-www-form-urlencoded", "/"
        elif self.kind == "osmand-json":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_ms / 1000))
            coords = {"latitude": lat, "longitude": lng, "speed": 6.4, "heading": 90, "accuracy": 5}
            location = {"timestamp": stamp, "coords": coords}
            body = json.dumps({"device_id": device, "location": location}).encode()
            kind, path = "application/json", "/"
        else:
            position = {
                "deviceId": 7,
                "fixTime": t_ms,
                "latitude": lat,
                "longitude": lng,
                "speed": 12.5,
                "course": 90.0,
                "accuracy": 5.0,
                "valid": True,
                "attributes": {"batteryLevel": 80},
            }
            traccar_device = {"id": 7, "uniqueId": device, "name": device}
            body = json.dumps({"position": position, "device": traccar_device}).encode()
            kind, path = "application/json", "/traccar"
        head = (
            f"POST {path} HTTP/1.1\r\n{host}Content-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def ndjson_line(self) -> bytes:
        device, lat, lng, t_ms = self.next_position()
        line = {"device": device, "lat": lat, "lng": lng, "t": t_ms, "speed_mps": 6.4}
        return json.dumps(line).encode() + b"\n"


async def read_answer(reader: asyncio.StreamReader) -> bool:
    """Read one HTTP/1.1 answer off the connection; whether it was a 200."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return head[9:12] == b"200"


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write `result` as JSON to `path` atomically (a soak's file is read while it runs)."""
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_text(json.dumps(result, indent=1) + "\n")
    partial.replace(path)
