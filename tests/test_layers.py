"""The layer rule inside every package: values at the bottom, pure logic above, I/O edges above
that, the CLI on top.

A module imports only from its own layer or below; pure modules never import an I/O library.
Every module must be placed in a layer here, so a new one gets a conscious decision. How the
packages stack (core at the bottom, the sandbox independent, the bridge without the simulator)
is import-linter's part: `[tool.importlinter]` in pyproject.toml, run by `make check`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "driver_agent"

VALUES = {
    "core", "core.errors", "core.model", "core.endpoints", "fleetapi.devapi_services",
    "fleetapi", "fleetapi.wire",
    "geo", "sim", "sim.lifecycle_messages", "sim.lifecycle_states", "geo.roadtypes",
    "metrics",
    "report",
    "bridge.state",
}  # fmt: skip
PURE = {
    "core.config", "core.config_errors", "core.jsonbody", "core.redaction", "core.validation",
    "core.typed",
    "fleetapi.webhook_payloads", "fleetapi.ratelimit", "fleetapi.resend", "fleetapi.bodies",
    "fleetapi.views", "fleetapi.webhook_schema", "fleetapi.webhook_settings",
    "geo.geometry", "geo.gpx", "geo.tracks", "geo.roadclass", "geo.roads", "geo.nearest",
    "geo.places",
    "geo.router", "geo.roadfile", "geo.graph_arrays", "geo.osm_graph", "geo.routejson",
    "geo.landmarks",
    "geo.hierarchy", "geo.contraction",
    "sim.lifecycle", "sim.offline", "sim.dispatch", "sim.orders", "sim.pacing", "sim.motion",
    "sim.gpsnoise", "sim.stopplan", "sim.navigator", "sim.itinerary",
    "sim.routebook", "sim.draws",
    "metrics.histogram", "metrics.stats_snapshot", "metrics.stats", "metrics.thresholds",
    "report.run", "report.fmt", "report.summary", "report.page",
    "report.chart", "report.recorder", "report.roadmap",
    "sandbox.rules", "sandbox.fleet", "sandbox.merchant_orders", "sandbox.manhattan",
    "sandbox.records", "sandbox.world", "sandbox.faults", "sandbox.geocode", "sandbox.settings",
    "bridge", "bridge.positions", "bridge.geofence", "bridge.metrics", "bridge.walker",
    "geo.geojson", "sandbox.fleet_checks", "sandbox.notes", "sandbox.clusters",
    "sandbox.requests",
    "sandbox.devapi", "sandbox.devapi_routes", "sandbox.devapi_world", "sandbox.devapi_people",
    "sandbox.devapi_blocks", "sandbox.devapi_orders", "sandbox.devapi_notes",
    "sandbox.devapi_order_edits",
    "bridge.calls", "bridge.watch", "bridge.unassigned",
    "metrics.call_counters", "metrics.order_log", "report.failures", "report.orders_csv",
    "report.page_charts",
    "fleetapi.partner_signature", "fleetapi.devapi_bodies", "fleetapi.devapi_views",
    "metrics.stats_merge", "sim.shardrouting", "report.workers",
}  # fmt: skip
EDGES = {
    "core.clock", "core.logs", "core.serving", "geo.osm_reader",
    "fleetapi.transport", "fleetapi.http11", "fleetapi.http11_parser", "fleetapi.client",
    "fleetapi.merchant", "fleetapi.webhooks", "fleetapi.answers", "fleetapi.auth",
    "fleetapi.session", "fleetapi.http11_connection", "fleetapi.inflight",
    "sim.driver", "sim.fleet", "sim.context", "sim.calls", "sim.api_calls", "sim.giveup",
    "sim.roster", "sim.pings", "sim.own_fleet", "sim.crew",
    "report.progress", "report.livemap", "report.files", "report.exports", "report.document",
    "sandbox", "sandbox.app", "sandbox.webhook_sender",
    "bridge.outbox", "bridge.sources", "bridge.replay", "bridge.sender", "bridge.daemon",
    "sandbox.admin", "sandbox.bodies", "sandbox.clock",
    "bridge.devicemap",
    "bridge.groupcommit",
    "bridge.watchdog", "bridge.outbox_file", "bridge.feeds", "bridge.partition",
    "bridge.channel",
    "fleetapi.devapi_session", "fleetapi.devapi",
}  # fmt: skip
TOP = {"cli", "__main__", "__init__", "commands", "commands.run", "commands.demo",
       "commands.sandbox", "commands.bridge", "commands.fleetrun", "commands.roads",
       "commands.preflight", "commands.merchant_orders", "commands.runservices",
       "commands.runreport", "commands.shard", "commands.distributed",
       "commands.ray_runtime", "commands.head", "commands.collector",
       "commands.bridgehead", "commands.bridgeworker"}  # fmt: skip
LAYER = {**dict.fromkeys(VALUES, 0), **dict.fromkeys(PURE, 1), **dict.fromkeys(EDGES, 2),
         **dict.fromkeys(TOP, 3)}  # fmt: skip
IO_LIBRARIES = {"anyio", "httpx", "structlog", "starlette", "uvicorn", "aiohttp", "httpx_aiohttp",
                "sqlite3", "socket", "asyncio", "subprocess", "time"}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module.split(".")[0] == "driver_agent":  # `from driver_agent.x import y`
                folder = PACKAGE.parent.joinpath(*node.module.split("."))
                found.update(
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if (folder / f"{alias.name}.py").exists() or (folder / alias.name).is_dir()
                )
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = {module_name(p) for p in MODULES} - set(LAYER)
    assert not unplaced, f"place these modules in a layer in tests/test_layers.py: {unplaced}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_a_module_imports_only_from_its_layer_or_below(path: Path) -> None:
    name = module_name(path)
    layer = LAYER[name]
    for imported in imports(path):
        root = imported.split(".")[0]
        if layer <= 1:
            assert root not in IO_LIBRARIES, f"{name} (pure) imports {imported}"
        if root != "driver_agent" or imported == "driver_agent":
            continue
        target = imported.removeprefix("driver_agent.")
        while target not in LAYER and "." in target:
            target = target.rsplit(".", 1)[0]
        assert LAYER[target] <= layer, f"{name} (layer {layer}) imports {target}"
