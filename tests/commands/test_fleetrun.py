"""`driver-agent run` end to end: embedded fleets checked against the sandbox's own state."""

from __future__ import annotations

import functools
import json
import socket
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from loopback import call_counts

from driver_agent.commands.fleetrun import RunResult, RunStopper, run_fleet
from driver_agent.core.clock import Membership, VirtualClock
from driver_agent.core.config import load_config
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sandbox.app import SandboxApp, create_app, serve_sandbox
from driver_agent.sandbox.settings import SandboxSettings


async def run_embedded(
    tmp_path: Path, drivers: int, orders: int, seed: int = 7, **extra: object
) -> tuple[RunResult, dict[str, Any]]:
    config = load_config(
        overrides={
            "run.drivers": drivers,
            "run.orders": orders,
            "run.seed": seed,
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
            **extra,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    apps: list[SandboxApp] = []
    result = await run_fleet(
        config, clock, show_progress=False, on_sandbox=lambda app, _url: apps.append(app)
    )
    return result, apps[0].state.snapshot(clock.now())


@pytest.mark.timeout(300)
async def test_fifty_drivers_complete_a_hundred_orders_and_the_report_matches_the_sandbox(
    tmp_path: Path,
) -> None:
    result, sandbox = await run_embedded(tmp_path, drivers=50, orders=100)
    report = json.loads(result.json_path.read_text())
    # every order done, by the sandbox's own account
    assert len(sandbox["orders"]) == 100
    assert {o["status_name"] for o in sandbox["orders"]} == {"done"}
    assert result.outcomes == {"completed": 100}
    assert result.exit_code == 0
    # zero ping gaps over 30 s, on both sides
    assert all(d["gaps_over_30s"] == 0 for d in sandbox["drivers"])
    assert max(d["max_gap_s"] for d in sandbox["drivers"]) <= 10.0
    assert report["stats"]["totals"]["gaps_over_limit"] == 0
    # counts per endpoint equal
    ours, theirs = call_counts(report, sandbox)
    assert ours == theirs
    assert report["totals"]["orders_done"] == 100
    assert report["totals"]["errors"] == 0
    assert result.html_path.exists()
    assert all(t["passed"] for t in report["thresholds"])


def order_number(external_id: str) -> str:
    """`da-<seed>-<run id>-00007` -> "00007": the part that the seed alone decides."""
    return external_id.rsplit("-", 1)[1]


async def test_the_same_seed_gives_the_same_assignment_routes_and_draws(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        _, sandbox = await run_embedded(tmp_path / str(i), drivers=6, orders=10, seed=11)
        runs.append(
            sorted(
                (
                    order_number(o["external_id"]),
                    o["driver"],
                    tuple(w["checkin_time"] for w in o["way_points"]),
                )
                for o in sandbox["orders"]
            )
        )
    assert runs[0] == runs[1]
    _, other = await run_embedded(tmp_path / "other", drivers=6, orders=10, seed=12)
    assert sorted(order_number(o["external_id"]) for o in other["orders"]) == [
        r[0] for r in runs[0]
    ]
    assert runs[0] != sorted(
        (
            order_number(o["external_id"]),
            o["driver"],
            tuple(w["checkin_time"] for w in o["way_points"]),
        )
        for o in other["orders"]
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_two_runs_against_one_sandbox_both_create_and_complete_their_orders(
    tmp_path: Path,
) -> None:
    port = free_port()
    defaults = SandboxSettings()
    app = create_app(
        SandboxSettings(
            fleet_webhook_url=f"http://127.0.0.1:{port}",
            area=RoadNetwork.load(None).bbox,
            webhook_retry_delay_s=0.5,
        )
    )
    env = {
        "DRIVER_AGENT_CLIENT_SECRET": defaults.client_secret.reveal(),
        "DRIVER_AGENT_MERCHANT_CLIENT_SECRET": defaults.merchant_client_secret.reveal(),
        "DRIVER_AGENT_WEBHOOK_API_KEY": defaults.merchant_api_key.reveal(),
    }
    results: list[RunResult] = []
    async with anyio.create_task_group() as tg:
        url = await tg.start(functools.partial(serve_sandbox, app=app))
        for i in range(2):
            config = load_config(
                env=env,
                overrides={
                    "api.api_url": url,
                    "api.client_id": defaults.client_id,
                    "merchant.client_id": defaults.merchant_client_id,
                    "webhooks.port": port,
                    "run.drivers": 3,
                    "run.orders": 4,
                    "run.seed": 5,  # the same seed both times
                    "run.report_dir": str(tmp_path / f"report{i}"),
                    "run.ramp_up_per_s": 1000.0,
                },
            )
            clock = VirtualClock(start=1_760_000_000.0)
            results.append(await run_fleet(config, clock, show_progress=False))
        tg.cancel_scope.cancel()
    orders = app.state.snapshot(app.clock.now())["orders"]
    assert [r.outcomes for r in results] == [{"completed": 4}, {"completed": 4}]
    assert len(orders) == 8
    assert {o["status_name"] for o in orders} == {"done"}
    run_ids = [r.report.config["run"]["run_id"] for r in results]
    assert run_ids[0] != run_ids[1]
    for run_id in run_ids:
        assert sorted(o["external_id"] for o in orders if f"-{run_id}-" in o["external_id"]) == [
            f"da-5-{run_id}-{n:05d}" for n in range(1, 5)
        ]


async def test_a_failed_threshold_makes_the_exit_code_one(tmp_path: Path) -> None:
    result, _ = await run_embedded(
        tmp_path, drivers=2, orders=2, **{"thresholds.checks": ["max_ping_gap_s < 5"]}
    )
    assert result.outcomes == {"completed": 2}
    assert not result.report.passed
    assert result.exit_code == 1


async def run_and_stop(tmp_path: Path, *, times: int) -> RunResult:
    """An embedded run that is told to stop `times` times, 15 simulated minutes in."""
    config = load_config(
        overrides={
            "run.drivers": 4,
            "run.orders": 12,
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    stopper = RunStopper()
    results: list[RunResult] = []
    apps: list[SandboxApp] = []

    async def run() -> None:
        results.append(
            await run_fleet(
                config,
                clock,
                show_progress=False,
                stopper=stopper,
                on_sandbox=lambda app, _url: apps.append(app),
            )
        )

    def started_orders() -> int:
        if not apps:
            return 0
        orders = apps[0].state.snapshot(clock.now())["orders"]
        return sum(1 for o in orders if o["status_name"] != "created")

    async def stop_later(member: Membership) -> None:
        with member:
            while started_orders() == 0:
                await clock.sleep(10)
            await clock.sleep(15 * 60)
            for _ in range(times):
                stopper.stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        tg.start_soon(stop_later, clock.join())
    return results[0]


async def test_a_graceful_stop_finishes_the_orders_in_hand_and_writes_the_report(
    tmp_path: Path,
) -> None:
    result = await run_and_stop(tmp_path, times=1)
    outcomes = result.outcomes
    assert outcomes["not_started"] > 0
    assert outcomes["completed"] >= 1
    assert outcomes["completed"] + outcomes["not_started"] == 12
    assert "interrupted" not in outcomes
    assert result.exit_code == 1
    assert (
        json.loads(result.json_path.read_text())["totals"]["orders_done"] == outcomes["completed"]
    )


async def test_a_second_stop_ends_at_once_and_still_writes_the_report(tmp_path: Path) -> None:
    result = await run_and_stop(tmp_path, times=2)
    assert result.outcomes["interrupted"] >= 1
    assert result.json_path.exists()
    assert result.html_path.exists()
    assert result.exit_code == 1


async def test_bringgs_update_and_cancel_webhooks_reach_the_driver_holding_the_order(
    tmp_path: Path,
) -> None:
    """Mid-run the sandbox moves one order's dropoff and cancels another (admin endpoints, which
    send Delivery Updated / Cancelled to the run's receiver); the drivers react."""
    config = load_config(
        overrides={
            "run.drivers": 2,
            "run.orders": 2,
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    sandboxes: list[tuple[SandboxApp, str]] = []
    results: list[RunResult] = []
    new_dropoff = (60.1700, 24.9480)

    def orders() -> list[dict[str, Any]]:
        app = sandboxes[0][0]
        found: list[dict[str, Any]] = app.state.snapshot(clock.now())["orders"]
        return sorted(found, key=lambda o: o["task_id"])

    async def run() -> None:
        results.append(
            await run_fleet(
                config,
                clock,
                show_progress=False,
                on_sandbox=lambda app, url: sandboxes.append((app, url)),
            )
        )

    async def meddle(member: Membership) -> None:
        with member:

            def one_on_the_way() -> dict[str, Any] | None:
                current = orders() if sandboxes else []
                for order in current:  # on the way to the dropoff
                    if (
                        order["status_name"] == "on_the_way"
                        and order["way_points"][0]["checkout_time"]
                    ):
                        return order
                return None

            while (moved := one_on_the_way()) is None:
                await clock.sleep(5)
            (cancelled,) = [o for o in orders() if o["task_id"] != moved["task_id"]]
            assert cancelled["status_name"] != "done"  # still in hand: cancelled mid-order
            url = sandboxes[0][1]
            async with httpx.AsyncClient(base_url=url) as http:
                lat, lng = new_dropoff
                update = {"way_point": {"position": 2, "lat": lat, "lng": lng}}
                await http.post(f"/_sandbox/orders/{moved['task_id']}/update", json=update)
                cancel = {"reason_id": 3, "reason": "customer not home"}
                await http.post(f"/_sandbox/orders/{cancelled['task_id']}/cancel", json=cancel)
            sandboxes.append((sandboxes[0][0], str(moved["task_id"])))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        tg.start_soon(meddle, clock.join())
    result = results[0]
    moved_id = int(sandboxes[-1][1])
    final = {o["task_id"]: o for o in orders()}
    assert result.outcomes == {"completed": 1, "cancelled": 1}
    assert final[moved_id]["status_name"] == "done"
    checkins = [e for e in result.report.events if e.kind == "checkin" and e.task_id == moved_id]
    assert haversine_m(checkins[-1].lat, checkins[-1].lng, *new_dropoff) < 50.0
    report = json.loads(result.json_path.read_text())
    assert {e["endpoint"]: e["count"] for e in report["stats"]["endpoints"]}["update_task"] == 1


async def test_drivers_far_from_a_pickup_are_relocated_and_counted(tmp_path: Path) -> None:
    result, sandbox = await run_embedded(
        tmp_path, drivers=2, orders=3, **{"run.relocate_beyond_km": 0.001}
    )
    report = json.loads(result.json_path.read_text())
    assert result.outcomes == {"completed": 3}
    assert report["totals"]["relocations"] == 3
    assert sum(1 for e in result.report.events if e.kind == "relocation") == 3
    assert {o["status_name"] for o in sandbox["orders"]} == {"done"}


async def test_duration_ends_the_run_gracefully_with_the_orders_in_hand_finished(
    tmp_path: Path,
) -> None:
    result, sandbox = await run_embedded(tmp_path, drivers=2, orders=6, **{"run.duration_s": 600.0})
    assert result.outcomes == {"completed": 2, "not_started": 4}
    assert sorted(o["status_name"] for o in sandbox["orders"]) == ["accepted"] * 4 + ["done"] * 2
    assert result.exit_code == 1


# Maps whose keys are data (endpoint names, outcomes, error classes, stages): their keys show as *.
_DATA_KEYED = {
    "events_by_kind", "versions", "stats.totals.errors_by_class", "stats.totals.orders",
    "stats.endpoints[].errors", "stats.stages_s", "stats.drivers[].orders",
    "stats.resilience.retries_by_endpoint", "stats.endpoints[].errors_by_status",
}  # fmt: skip
_SUMMARY = ("count", "min", "mean", "p50", "p90", "p95", "p99", "max")
REPORT_JSON_FIELDS = {
    "schema_version", "mode", "seed", "started_at", "ended_at", "duration_s", "passed",
    "simulated_started_at", "simulated_ended_at", "simulated_duration_s", "speed",
    "requests_per_s", "failed_orders", "failed_orders_total", "stats.bytes_sent",
    "stats.bytes_received", "stats.endpoints[].errors_by_status", "stats.endpoints[].top_messages",
    *(f"stats.timeline[].{k}" for k in (
        "requests_by_endpoint", "busy_drivers", "bytes_sent", "bytes_received",
    )),
    "events_by_kind", "events_by_kind.*", "config", "versions", "versions.*",
    "workers",  # a distributed run's rows (tests/commands/test_distributed.py); [] here
    "totals", *(f"totals.{k}" for k in (
        "orders_total", "orders_done", "orders_cancelled", "orders_failed", "drivers",
        "relocations", "requests", "errors", "error_rate", "retries", "reconciled_retries",
        "queued_calls", "queued_locations", "thinned_locations", "orders_given_up",
        "cancelled_after_give_up",
    )),
    "thresholds", *(f"thresholds[].{k}" for k in (
        "expr", "metric", "op", "limit", "actual", "passed",
    )),
    "stats", "stats.bucket_s", "stats.max_ping_gap_s",
    "stats.totals", "stats.totals.errors_by_class", "stats.totals.orders", "stats.totals.orders.*",
    *(f"stats.totals.{k}" for k in (
        "calls", "errors", "first_at_s", "last_at_s", "distance_m", "drivers", "pings",
        "gaps_over_limit", "max_gap_s", "relocations",
    )),
    "stats.endpoints", "stats.endpoints[].endpoint", "stats.endpoints[].count",
    "stats.endpoints[].errors", "stats.endpoints[].latency_ms",
    *(f"stats.endpoints[].latency_ms.{k}" for k in _SUMMARY),
    "stats.timeline", *(f"stats.timeline[].{k}" for k in (
        "start_s", "count", "errors", "p50_ms", "p95_ms", "max_ms",
    )),
    "stats.stages_s", "stats.stages_s.*", *(f"stats.stages_s.*.{k}" for k in _SUMMARY),
    "stats.ping_lateness_ms", *(f"stats.ping_lateness_ms.{k}" for k in _SUMMARY),
    "stats.drivers", "stats.drivers[].orders", "stats.drivers[].orders.*",
    *(f"stats.drivers[].{k}" for k in (
        "driver_id", "pings", "max_gap_s", "gaps_over_limit", "distance_m", "relocations",
    )),
    "stats.resilience", "stats.resilience.retries_by_endpoint", "stats.resilience.given_up_orders",
    *(f"stats.resilience.{k}" for k in (
        "retries", "reconciled", "queued_calls", "queued_locations", "thinned_locations",
        "dropped_locations", "given_up", "cancelled_after_give_up", "cancel_failed",
    )),
}  # fmt: skip


def field_paths(value: object, path: str = "") -> set[str]:
    """Every key of a JSON document as a dotted path (`stats.endpoints[].count`); list items
    share `[]`, the keys of data-keyed maps show as `*`; the masked config is not entered."""
    found = {path} if path and not path.endswith("[]") else set()
    if path == "config":
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            step = "*" if path in _DATA_KEYED else key
            found |= field_paths(item, f"{path}.{step}" if path else step)
    elif isinstance(value, list):
        for item in value:
            found |= field_paths(item, f"{path}[]")
    return found


async def test_report_json_of_a_real_run_has_exactly_its_documented_fields(
    tmp_path: Path,
) -> None:
    result, _ = await run_embedded(
        tmp_path, drivers=2, orders=2, **{"thresholds.checks": ["p95_ms < 800"]}
    )
    report = json.loads(result.json_path.read_text())
    assert field_paths(report) == REPORT_JSON_FIELDS
    assert list(report) == [
        "schema_version", "mode", "seed", "started_at", "ended_at", "duration_s",
        "simulated_started_at", "simulated_ended_at", "simulated_duration_s", "speed",
        "requests_per_s", "passed", "totals", "thresholds", "failed_orders",
        "failed_orders_total", "events_by_kind", "workers", "stats", "config", "versions",
    ]  # fmt: skip
    assert report["workers"] == []
    assert list(report["stats"]) == [
        "bucket_s", "max_ping_gap_s", "totals", "endpoints", "timeline", "stages_s",
        "ping_lateness_ms", "drivers", "resilience", "bytes_sent", "bytes_received",
    ]  # fmt: skip
    assert report["requests_per_s"] > 0
    assert report["stats"]["bytes_sent"] > 0 < report["stats"]["bytes_received"]
    assert max(b["busy_drivers"] for b in report["stats"]["timeline"]) >= 1
    orders_csv = (result.json_path.parent / "orders.csv").read_text().splitlines()
    assert [row.split(",")[3] for row in orders_csv[1:]] == ["completed", "completed"]
