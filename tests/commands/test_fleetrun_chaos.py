"""The chaos run: 20 drivers and 40 orders against the embedded sandbox on the virtual clock, with
a schedule of faults (scattered 5xx, 429 bursts with Retry-After, 3 s delays, a 60 s outage in
the middle, applied-but-answer-lost calls, token expiry). Every order ends done, the sandbox
applied every transition exactly once, and the outage shows as retries and latency.

The schedule runs as a clock participant beside the run and adds faults to the sandbox the way
`POST /_sandbox/faults` does (in process, through the app the run started). The 60 s outage is a
fault with `duration_s: 60` of sandbox time; sandbox time follows the wall clock, so after 60 s
of virtual time the schedule moves the sandbox clock 60 s on (`POST /_sandbox/clock`), which
ends the outage exactly then. The 3 s delays are real seconds (the sandbox sleeps before it
answers; a driver waiting for an answer holds virtual time still), so they cost wall time.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from driver_agent.commands.fleetrun import RunResult, run_fleet
from driver_agent.core.clock import Membership, VirtualClock
from driver_agent.core.config import load_config
from driver_agent.sandbox.app import SandboxApp

DRIVERS, ORDERS = 20, 40
HAPPY_PATH = [
    "assign_driver", "start_task", "checkin:pickup", "checkout:pickup", "checkin:dropoff",
    "checkout:dropoff", "end_task",
]  # fmt: skip
LIFECYCLE_PATHS = [
    f"/open_fleet_services/{name}"
    for name in ("assign_driver", "start_task", "checkin", "checkout", "end_task", "create_note")
]


class Chaos:
    """The fault schedule, played against the sandbox app of the run."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.app: SandboxApp | None = None
        self.log: list[tuple[float, str]] = []
        self.outage: tuple[float, float] | None = None

    def fault(self, body: dict[str, Any]) -> None:
        assert self.app is not None
        self.app.state.faults.add(body, self.app.clock.now())
        self.log.append((self.clock.now(), json.dumps(body, sort_keys=True)))

    def orders(self) -> list[dict[str, Any]]:
        if self.app is None:
            return []
        found: list[dict[str, Any]] = self.app.state.snapshot(self.app.clock.now())["orders"]
        return found

    def count(self, transition: str) -> int:
        return sum(transition in o["transitions"] for o in self.orders())

    async def until(self, transition: str, at_least: int) -> None:
        while self.count(transition) < at_least:
            await self.clock.sleep(5.0)

    async def play(self, member: Membership) -> None:
        with member:
            clock = self.clock
            await self.until("start_task", 10)
            self.fault({"status": 500, "count": 3})  # scattered 5xx
            self.fault({"lose_answer": True, "count": 4, "paths": LIFECYCLE_PATHS})
            await clock.sleep(20.0)
            self.fault({"status": 429, "count": 12, "retry_after_s": 5})  # a 429 burst
            await clock.sleep(20.0)
            self.fault({"delay_s": 3.0, "count": 3})  # slow answers
            self.fault({"status": 502, "count": 2})
            await self.until("checkin:pickup", ORDERS // 2)
            # the 60 s outage, in the middle of the run: every API call answers 503
            start = clock.now()
            self.fault({"status": 503, "duration_s": 60.0})
            await clock.sleep(60.0)
            assert self.app is not None
            self.app.clock.advance(60.0)  # sandbox time catches up: the outage ends now
            self.outage = (start, clock.now())
            # the backlogs go out; some answers of what they apply are lost
            self.fault({"lose_answer": True, "count": 6, "paths": LIFECYCLE_PATHS})
            await clock.sleep(30.0)
            self.app.clock.advance(1801.0)  # every token expired
            self.fault({"status": 429, "count": 8, "retry_after_s": 2})
            await clock.sleep(30.0)
            self.fault({"status": 504, "count": 3})
            self.fault({"lose_answer": True, "count": 3, "paths": LIFECYCLE_PATHS})


@pytest.mark.timeout(120)
async def test_a_fleet_rides_out_a_schedule_of_faults_with_every_order_done_and_no_duplicate(
    tmp_path: Path,
) -> None:
    config = load_config(
        overrides={
            "run.drivers": DRIVERS,
            "run.orders": ORDERS,
            "run.seed": 9,
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
            # the outage is latency by design: judge the run on errors, gaps and orders
            "thresholds.checks": [
                "error_rate < 0.01",
                "max_ping_gap_s <= 30",
                "orders_completed_ratio >= 0.99",
            ],
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    chaos = Chaos(clock)
    results: list[RunResult] = []

    def started(app: SandboxApp, _url: str) -> None:
        chaos.app = app

    async def run() -> None:
        results.append(await run_fleet(config, clock, show_progress=False, on_sandbox=started))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        tg.start_soon(chaos.play, clock.join())
    result = results[0]
    assert chaos.app is not None
    sandbox = chaos.app.state.snapshot(chaos.app.clock.now())
    report = json.loads(result.json_path.read_text())

    # the schedule ran in full, the outage in the middle of the run
    assert chaos.outage is not None
    assert len(chaos.log) == 10
    faults_answered = Counter(
        status
        for path, calls in sandbox["calls"].items()
        if path.startswith("/open_fleet_services/")
        for status in calls["by_status"]
        if status != "200"
    )
    assert {"500", "502", "503", "504", "429"} <= set(faults_answered)

    # every order done, by the sandbox's account and by the run's
    assert result.outcomes == {"completed": ORDERS}
    assert len(sandbox["orders"]) == ORDERS
    assert {o["status_name"] for o in sandbox["orders"]} == {"done"}
    assert result.exit_code == 0

    # 0 duplicated transitions: the sandbox applied each transition of each order once ...
    for order in sandbox["orders"]:
        assert order["transitions"] == HAPPY_PATH, order["task_id"]
    # ... and the run confirmed the same ones, once each, per order
    events = Counter((e.task_id, e.kind) for e in result.report.events)
    for order in sandbox["orders"]:
        applied = Counter(t.split(":")[0] for t in order["transitions"])
        task_id = order["task_id"]
        assert events[(task_id, "checkin")] == applied["checkin"] == 2
        assert events[(task_id, "checkout")] == applied["checkout"] == 2
        assert applied["end_task"] == 1
    ours = {e["endpoint"]: e["count"] for e in report["stats"]["endpoints"]}
    applied_total = Counter(t.split(":")[0] for o in sandbox["orders"] for t in o["transitions"])
    for endpoint in ("assign_driver", "start_task", "checkin", "checkout", "end_task"):
        assert ours[endpoint] == applied_total[endpoint], endpoint
    # the repeats the sandbox answered are the resends the run reconciled
    resilience = report["stats"]["resilience"]
    repeats = Counter()  # type: Counter[str]
    for by_transition in sandbox["repeats"].values():
        repeats.update(by_transition)
    assert sum(n for t, n in repeats.items() if t != "create_note") == resilience["reconciled"]
    assert resilience["reconciled"] >= 3

    # the outage is retries and latency, not failures
    assert report["totals"]["errors"] == 0
    assert resilience["retries"] > 50
    assert resilience["queued_calls"] > resilience["queued_locations"] > 0
    assert resilience["given_up"] == 0
    worst_ms = max(e["latency_ms"]["max"] for e in report["stats"]["endpoints"])
    assert worst_ms >= 50_000.0
    assert all(d["gaps_over_30s"] == 0 for d in sandbox["drivers"])
    assert report["stats"]["totals"]["gaps_over_limit"] == 0
