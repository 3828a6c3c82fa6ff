"""The bridge's ingest capacity: positions per CPU-second of the bridge process, end to end.

    python -m bench.bridgeload --kind osmand-get --devices 2000 --connections 64 --window-s 20
    python -m bench.bridgeload --kind all          # every input kind, one fresh bridge each

What runs: the embedded sandbox (`driver-agent sandbox`, its own process) knows `--devices`
drivers (each was assigned an order through the fleet API, so their location updates are
accepted, not held); a `driver-agent bridge` process, pinned to core 0 (`--bridge-core`), maps
one device to each driver and sends to the sandbox; this process is the load generator, pinned
to another core, with `--connections` keep-alive HTTP/1.1 connections in a closed loop (each
sends a position, waits for the answer, sends the next), devices taken round robin with
increasing device times.

What is counted: the bridge's CPU (user + sys of every thread, from /proc/PID/stat) from the
start of the window until its outbox is empty again after the window (so every position counted
was accepted, committed and sent to the API and acknowledged); positions = the 200s the generator
got in the window. Accept latency (request written to answer read) p50 / p99 over the window.
`ndjson` writes lines to the bridge's stdin (`--ndjson -`) for the window instead.

Kinds: osmand-get (query string), osmand-post (form body), osmand-json (Traccar Client 9's JSON),
traccar (Traccar's forward JSON, POST /traccar), ndjson (stdin). Prints one `RESULT {json}` per
kind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

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
            query = urlencode(
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
            return f"GET /?{query} HTTP/1.1\r\n{host}\r\n".encode()
        if self.kind == "osmand-post":
            body = urlencode(
                {
                    "id": device,
                    "lat": f"{lat:.6f}",
                    "lon": f"{lng:.6f}",
                    "timestamp": t_ms,
                    "speed": "12.5",
                    "bearing": "90",
                    "accuracy": "5",
                }
            ).encode()
            kind = "application/x-www-form-urlencoded"
            path = "/"
        elif self.kind == "osmand-json":
            body = json.dumps(
                {
                    "device_id": device,
                    "location": {
                        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_ms / 1000)),
                        "coords": {
                            "latitude": lat,
                            "longitude": lng,
                            "speed": 6.4,
                            "heading": 90,
                            "accuracy": 5,
                        },
                    },
                }
            ).encode()
            kind, path = "application/json", "/"
        else:
            body = json.dumps(
                {
                    "position": {
                        "deviceId": 7,
                        "fixTime": t_ms,
                        "latitude": lat,
                        "longitude": lng,
                        "speed": 12.5,
                        "course": 90.0,
                        "accuracy": 5.0,
                        "valid": True,
                        "attributes": {"batteryLevel": 80},
                    },
                    "device": {"id": 7, "uniqueId": device, "name": device},
                }
            ).encode()
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


async def connection(load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", load.port)
    try:
        while load.running:
            start = time.perf_counter()
            writer.write(load.request())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            ok = head[9:12] == b"200"
            if load.counting:
                load.sent += 1
                if ok:
                    load.accepted += 1
                    load.latencies.append(time.perf_counter() - start)
                else:
                    load.failed += 1
    finally:
        writer.close()


async def feed_stdin(load: Load, stdin: Any) -> None:
    loop = asyncio.get_running_loop()
    while load.running:
        chunk = b"".join(load.ndjson_line() for _ in range(200))
        await loop.run_in_executor(None, stdin.write, chunk)
        await loop.run_in_executor(None, stdin.flush)
        if load.counting:
            load.sent += 200


async def metric(http: httpx.AsyncClient, name: str) -> float:
    text = (await http.get("/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def run_kind(
    args: argparse.Namespace, kind: str, sandbox_url: str, work: Path
) -> dict[str, Any]:
    port = free_port()
    outbox = work / f"outbox-{kind}.sqlite3"
    devices = {f"van-{k}": f"drv-{k}" for k in range(args.devices)}
    (work / "devices.json").write_text(json.dumps(devices))
    config = work / "bridge.toml"
    config.write_text(
        f'[api]\napi_url = "{sandbox_url}"\nclient_id = "sandbox-fleet"\n'
        f'[bridge]\nlisten_port = {port}\noutbox = "{outbox}"\n'
        f'device_map_file = "{work / "devices.json"}"\n'
        f'[webhooks]\nport = {free_port()}\n[log]\nlevel = "warning"\nformat = "json"\n'
    )
    command = ["taskset", "-c", str(args.bridge_core), sys.executable, "-m", "driver_agent",
               "bridge", "--config", str(config)]  # fmt: skip
    if kind == "ndjson":
        command += ["--ndjson", "-"]
    env = {**os.environ, "DRIVER_AGENT_CLIENT_SECRET": SECRET}
    with (work / f"bridge-{kind}.log").open("wb") as log:
        bridge = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stderr=log)  # noqa: ASYNC220
    load = Load(kind, args.devices, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            if kind == "ndjson":
                tasks = [asyncio.create_task(feed_stdin(load, bridge.stdin))]
            else:
                tasks = [asyncio.create_task(connection(load)) for _ in range(args.connections)]
            await asyncio.sleep(args.warmup_s)
            in_before = await metric(http, "driver_agent_bridge_positions_in_total")
            sent_before = await metric(http, "driver_agent_bridge_updates_sent_total")
            cpu_before = proc_cpu_s(bridge.pid)
            wall_before = time.perf_counter()
            load.counting = True
            if args.profile:  # py-spy's collapsed stacks of the bridge over the window
                spy = [str(Path(sys.executable).parent / "py-spy"), "record", "-f", "raw",
                       "-r", "250", "-d", str(round(args.window_s)), "-p", str(bridge.pid),
                       "-o", f"{args.profile}-{kind}.txt", "--threads",
                       "--nonblocking"]  # fmt: skip
                subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
            await asyncio.sleep(args.window_s)
            load.counting = False
            load.running = False
            window_s = time.perf_counter() - wall_before
            if kind == "ndjson":
                tasks[0].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            in_window = await metric(http, "driver_agent_bridge_positions_in_total") - in_before
            backlog = await metric(http, "driver_agent_bridge_outbox_depth")
            deadline = time.perf_counter() + 300
            while await metric(http, "driver_agent_bridge_outbox_depth") > 0:
                assert time.perf_counter() < deadline, "the outbox did not drain"
                await asyncio.sleep(0.05)
            cpu_s = proc_cpu_s(bridge.pid) - cpu_before
            drained_s = time.perf_counter() - wall_before
            sent = await metric(http, "driver_agent_bridge_updates_sent_total") - sent_before
            errors = await metric(http, "driver_agent_bridge_errors_total")
            rss_kb = proc_rss_kb(bridge.pid)
    finally:
        bridge.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            bridge.wait(30)
        if bridge.returncode is None:
            bridge.kill()
    positions = in_window if kind == "ndjson" else load.accepted
    lat = sorted(load.latencies)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else 0.0

    return {
        "kind": kind,
        "devices": args.devices,
        "connections": 0 if kind == "ndjson" else args.connections,
        "window_s": round(window_s, 2),
        "positions": int(positions),
        "refused": load.failed,
        "backlog_at_window_end": int(backlog),
        "calls_sent": int(sent),
        "errors": int(errors),
        "bridge_cpu_s": round(cpu_s, 3),
        "drained_s": round(drained_s, 2),
        "positions_per_cpu_s": round(positions / cpu_s) if cpu_s else 0,
        "positions_per_s": round(positions / window_s),
        "accept_ms_p50": pct(0.50),
        "accept_ms_p99": pct(0.99),
        "bridge_rss_kb": rss_kb,
    }


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bridgeload-") as tmp:
        work = Path(tmp)
        sandbox_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        with (work / "sandbox.log").open("wb") as log:
            command = [sys.executable, "-m", "driver_agent", "sandbox", "--port", str(sandbox_port)]
            sandbox = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)  # noqa: ASYNC220
        try:
            async with httpx.AsyncClient(base_url=sandbox_url, trust_env=False) as http:
                for _ in range(200):
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get("/_sandbox/state")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            await make_drivers(sandbox_url, args.devices)
            kinds = KINDS if args.kind == "all" else (args.kind,)
            for kind in kinds:
                result = await run_kind(args, kind, sandbox_url, work)
                print("RESULT " + json.dumps(result), flush=True)
        finally:
            sandbox.terminate()
            sandbox.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--bridge-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--profile", default="", help="py-spy the bridge into PREFIX-KIND.txt")
    args = parser.parse_args()
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {args.load_core})
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
