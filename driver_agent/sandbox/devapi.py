"""The developer API (seed 001) as the sandbox serves it: the per-service URLs, the handler of
each service, and the state view (pure).

`DevApi.call(path, method, body, query, now_s)` answers one request to `/services/...`: the
service whose URL it is, POST (or GET where the seed shows GET), else 404. The URL is the
credential (seed 001 shows no token for these services), so no OAuth token is asked for.
"""

from __future__ import annotations

from collections.abc import Callable

from driver_agent.sandbox.devapi_blocks import BLOCK_HANDLERS
from driver_agent.sandbox.devapi_notes import NOTE_HANDLERS
from driver_agent.sandbox.devapi_order_edits import EDIT_HANDLERS
from driver_agent.sandbox.devapi_orders import ORDER_HANDLERS
from driver_agent.sandbox.devapi_people import PEOPLE_HANDLERS
from driver_agent.sandbox.devapi_routes import GET_SERVICES, service_paths
from driver_agent.sandbox.devapi_world import DevWorld
from driver_agent.sandbox.world import JsonDict, Reply, Violation, World

Handler = Callable[[DevWorld, JsonDict, float], Reply]

HANDLERS: dict[str, Handler] = {
    **ORDER_HANDLERS,
    **EDIT_HANDLERS,
    **NOTE_HANDLERS,
    **PEOPLE_HANDLERS,
    **BLOCK_HANDLERS,
}
NOT_FOUND = Reply(404, {"success": False, "message": "Not found: no service at this URL"})


def merged(body: JsonDict, query: list[tuple[str, str]]) -> JsonDict:
    """A GET's query parameters over its body; a repeated key (`team_ids`, `team_ids[]`) is
    a list."""
    out = dict(body)
    lists: dict[str, list[str]] = {}
    for key, value in query:
        name = key[:-2] if key.endswith("[]") else key
        lists.setdefault(name, []).append(value)
    for name, values in lists.items():
        out[name] = values if len(values) > 1 or name == "team_ids" else values[0]
    return out


class DevApi:
    """The developer API's services over the shared world."""

    def __init__(self, world: World) -> None:
        self.dev = DevWorld(world)
        self.paths = service_paths(world.settings.seed)
        self._by_path = {path: name for name, path in self.paths.items()}

    def service(self, path: str) -> str | None:
        """The service name of a `/services/...` path (a trailing slash allowed), or None."""
        return self._by_path.get(path.rstrip("/"))

    def call(
        self, name: str, method: str, body: JsonDict, query: list[tuple[str, str]], now_s: float
    ) -> Reply:
        if method != "POST" and not (method == "GET" and name in GET_SERVICES):
            return NOT_FOUND
        if query and name in GET_SERVICES:
            body = merged(body, query)
        try:
            return HANDLERS[name](self.dev, body, now_s)
        except Violation as v:
            return v.reply()

    def services_view(self, base_url: str = "") -> JsonDict:
        """GET /_sandbox/services: {service name: URL} and which take GET."""
        return {
            "success": True,
            "services": {name: base_url + path for name, path in self.paths.items()},
            "get": sorted(GET_SERVICES),
        }

    def snapshot(self) -> JsonDict:
        """The developer API's part of GET /_sandbox/state."""
        dev = self.dev
        return {
            "users": [{**u.view(), "home_events": list(u.home_events)} for u in dev.users.values()],
            "shifts": [s.view() for s in dev.shifts],
            "delivery_blocks": [dev.block_view(b) for b in dev.blocks.values()],
        }
