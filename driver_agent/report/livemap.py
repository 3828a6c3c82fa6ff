"""A live map of a running fleet: a page that polls the drivers' positions once a second.

`driver-agent run --live-map` (and the demo) serve it on loopback; open the printed URL in a
browser while the run goes. The page is self-contained (Leaflet inlined); map tiles load from
OpenStreetMap when online, and the drivers draw without them.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from driver_agent.geo.roads import RoadNetwork
from driver_agent.report.page import load_assets
from driver_agent.report.roadmap import road_lines
from driver_agent.sim.fleet import Fleet

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


@cache
def live_page(tile_url: str | None) -> str:
    assets = load_assets()
    page = (resources.files("driver_agent.report") / "assets" / "live.html").read_text("utf-8")
    return (
        page.replace("{{LEAFLET_CSS}}", assets.leaflet_css)
        .replace("{{TILE_URL}}", json.dumps(tile_url))
        .replace("{{LEAFLET_JS}}", assets.leaflet_js)
    )


def fleet_state(fleet: Fleet) -> dict[str, object]:
    """Where every driver is now (true positions), its state, and the order tally."""
    progress = fleet.progress()
    drivers = []
    for driver in fleet.drivers.values():
        lat, lng = driver.where()
        state = driver.lifecycle.state.value if driver.lifecycle.is_active else "idle"
        drivers.append({"id": driver.driver_id, "lat": lat, "lng": lng, "state": state})
    expected = progress.orders_expected
    return {
        "t_ms": fleet.context.clock.now_ms(),
        "drivers": drivers,
        "drivers_busy": progress.drivers_busy,
        "orders_done": progress.outcomes.get("completed", 0),
        "orders_total": expected if expected is not None else progress.orders_seen,
    }


def create_live_map_app(
    fleet: Fleet, network: RoadNetwork | None = None, *, tile_url: str | None = OSM_TILES
) -> Starlette:
    roads = json.dumps(road_lines(network) if network is not None else [])

    async def page(request: Request) -> Response:
        return HTMLResponse(live_page(tile_url))

    async def state(request: Request) -> Response:
        return JSONResponse(fleet_state(fleet))

    async def road_json(request: Request) -> Response:
        return Response(roads, media_type="application/json")

    return Starlette(
        routes=[Route("/", page), Route("/state.json", state), Route("/roads.json", road_json)]
    )
