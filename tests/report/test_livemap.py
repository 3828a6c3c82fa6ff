"""The live map: while a fleet runs, the page is served and state.json shows drivers moving."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import anyio
import httpx

from driver_agent.commands.fleetrun import run_fleet
from driver_agent.core.clock import Membership, VirtualClock
from driver_agent.core.config import load_config


async def test_the_live_map_shows_the_drivers_moving_during_a_run(tmp_path: Path) -> None:
    config = load_config(
        overrides={
            "run.drivers": 3,
            "run.orders": 3,
            "run.report_dir": str(tmp_path / "report"),
            "run.live_map": True,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    out = io.StringIO()
    seen: list[dict[str, Any]] = []
    page: list[str] = []
    roads: list[list[list[float]]] = []

    async def watch(member: Membership) -> None:
        with member:
            while "live map: " not in out.getvalue():
                await clock.sleep(1)
            url = out.getvalue().split("live map: ", 1)[1].split()[0]
            async with httpx.AsyncClient(base_url=url) as http:
                page.append((await http.get("/")).text)
                roads.extend((await http.get("/roads.json")).json())
                while len(seen) < 2:
                    state = (await http.get("/state.json")).json()
                    if state["drivers_busy"] == 3:
                        seen.append(state)
                    await clock.sleep(60)

    async def run() -> None:
        await run_fleet(config, clock, out=out, show_progress=False)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        tg.start_soon(watch, clock.join())
    assert "L.circleMarker" in page[0]
    assert "state.json" in page[0]
    assert len(roads) > 500  # the street network draws without tiles
    assert all(len(line) >= 2 for line in roads)
    first, later = seen
    assert len(first["drivers"]) == 3
    assert later["t_ms"] - first["t_ms"] >= 60_000
    moved = [
        (a["lat"], a["lng"]) != (b["lat"], b["lng"])
        for a, b in zip(first["drivers"], later["drivers"], strict=True)
    ]
    assert any(moved)
    assert {d["state"] for d in first["drivers"]} <= {
        "offered", "assigned", "en_route_to_pickup", "checking_in_at_pickup", "at_pickup",
        "checking_out_of_pickup", "en_route_to_dropoff", "checking_in_at_dropoff", "at_dropoff",
        "checking_out_of_dropoff", "completing",
    }  # fmt: skip
