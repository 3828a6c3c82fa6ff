"""The bridge's HTTP inputs over real loopback HTTP, and the NDJSON reader."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import structlog.testing
import uvicorn

from driver_agent.bridge import calls
from driver_agent.bridge.metrics import BridgeMetrics
from driver_agent.bridge.outbox import Outbox
from driver_agent.bridge.positions import KNOT_MPS, Position
from driver_agent.bridge.sources import create_input_app, iter_lines, read_ndjson
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Secret

T_MS = 1_714_564_800_000


class _Server(uvicorn.Server):
    """uvicorn that tells the test thread when it listens (no polling sleeps)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(10), "server did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Bridge:
    """A running input app whose sink writes each position to a real outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.metrics = BridgeMetrics()
        self.received: list[Position] = []
        self.healthy = True

    async def sink(self, position: Position) -> None:
        call = calls.location(position.device_id, position.lat, position.lng, position.t_ms, [])
        self.outbox.append(call, position.t_ms)
        self.received.append(position)

    def health(self) -> dict[str, Any]:
        return {"ok": self.healthy, "outbox_depth": self.outbox.depth()}


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    with Outbox(tmp_path / "outbox.db") as outbox:
        yield Bridge(outbox)


@pytest.fixture
def url(bridge: Bridge) -> Iterator[str]:
    app = create_input_app(bridge.sink, bridge.metrics, health=bridge.health, max_body_bytes=4096)
    with serve_in_thread(app) as base:
        yield base


def traccar_body() -> dict[str, Any]:
    return {
        "position": {
            "deviceId": 7,
            "fixTime": "2024-05-01T12:00:00.000+00:00",
            "latitude": 52.52,
            "longitude": 13.405,
            "speed": 2.0,
            "course": 180.0,
            "valid": True,
        },
        "device": {"id": 7, "uniqueId": "imei-1", "name": "van 1"},
    }


def test_traccar_forward_is_stored_before_the_200(url: str, bridge: Bridge) -> None:
    response = httpx.post(f"{url}/traccar", json=traccar_body())
    assert response.status_code == 200
    assert response.json() == {"accepted": 1}
    [call] = bridge.outbox.peek("imei-1")
    assert call.body == {
        "lat": 52.52,
        "lng": 13.405,
        "user_external_id": "imei-1",
        "reported_time": T_MS,
    }
    assert bridge.received[0].speed_mps == pytest.approx(2.0 * KNOT_MPS)


def test_traccar_event_without_position_is_acknowledged_and_ignored(
    url: str, bridge: Bridge
) -> None:
    body = {"event": {"type": "deviceOnline"}, "device": {"uniqueId": "imei-1"}}
    response = httpx.post(f"{url}/traccar", json=body)
    assert (response.status_code, response.json()["accepted"]) == (200, 0)
    assert bridge.outbox.depth() == 0


@pytest.mark.parametrize(
    ("content", "field", "status"),
    [
        pytest.param(b"{oops", "body", 400, id="not-json"),
        pytest.param(
            json.dumps({"device": {"uniqueId": "x"}}).encode(), "position", 400, id="empty"
        ),
        pytest.param(b"[" + b"1," * 3000 + b"1]", "body", 413, id="too-large"),
        pytest.param(b"[" * 4000, "body", 400, id="too-deep"),
        pytest.param(b'{"position": ' + b"7" * 4000 + b"}", "body", 400, id="huge-integer"),
    ],
)
def test_bad_traccar_body_gets_4xx_naming_the_field_and_is_counted(
    url: str, bridge: Bridge, content: bytes, field: str, status: int
) -> None:
    response = httpx.post(
        f"{url}/traccar", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert response.json()["field"] == field
    assert field in response.json()["error"]
    assert bridge.metrics.positions_rejected.value("traccar", field) == 1
    assert bridge.outbox.depth() == 0


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param(
            "GET",
            "/",
            {"params": {"id": "phone", "lat": "1", "lon": "2", "timestamp": "1714564800"}},
            id="get-root",
        ),
        pytest.param(
            "POST",
            "/osmand",
            {"params": {"id": "phone", "lat": "1", "lon": "2", "timestamp": "1714564800"}},
            id="post-query",
        ),
        pytest.param(
            "POST",
            "/",
            {"data": {"id": "phone", "lat": "1", "lon": "2", "timestamp": "1714564800"}},
            id="post-form",
        ),
        pytest.param(
            "POST",
            "/",
            {
                "json": {
                    "device_id": "phone",
                    "location": {
                        "timestamp": "2024-05-01T12:00:00Z",
                        "coords": {"latitude": 1, "longitude": 2},
                    },
                }
            },
            id="post-json",
        ),
    ],
)
def test_osmand_forms_are_accepted_and_stored(
    url: str, bridge: Bridge, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = httpx.request(method, url + path, **kwargs)
    assert response.status_code == 200
    assert bridge.received == [Position("phone", 1.0, 2.0, T_MS)]
    assert bridge.outbox.depth() == 1
    assert bridge.metrics.positions_in.value("osmand") == 1


def test_bad_osmand_request_gets_400_and_the_server_keeps_serving(url: str, bridge: Bridge) -> None:
    bad = httpx.get(url, params={"id": "phone", "lat": "95", "lon": "2", "timestamp": "1"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "lat"
    good = httpx.get(url, params={"id": "phone", "lat": "1", "lon": "2", "timestamp": "1714564800"})
    assert good.status_code == 200
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert (
        'driver_agent_bridge_positions_rejected_total{source="osmand",field="lat"} 1\n'
        in metrics.text
    )
    assert 'driver_agent_bridge_positions_in_total{source="osmand"} 1\n' in metrics.text


def test_healthz_reports_the_daemons_state_and_503_when_not_ok(url: str, bridge: Bridge) -> None:
    response = httpx.get(f"{url}/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True, "outbox_depth": 0})
    bridge.healthy = False
    assert httpx.get(f"{url}/healthz").status_code == 503


def test_a_failing_sink_gets_503_and_the_error_class_is_counted(url: str, bridge: Bridge) -> None:
    bridge.outbox.close()
    response = httpx.post(f"{url}/traccar", json=traccar_body())
    assert response.status_code == 503
    assert bridge.metrics.errors.value("OutboxError") == 1
    assert bridge.metrics.positions_in.value("traccar") == 0


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def test_ndjson_bad_lines_are_counted_with_their_numbers_and_reading_goes_on() -> None:
    received: list[Position] = []

    async def sink(position: Position) -> None:
        received.append(position)

    metrics = BridgeMetrics()
    summary = await read_ndjson(
        lines(
            '{"device": "v1", "lat": 1, "lng": 2, "t": 1714564800000}\n',
            "\n",
            "{broken\n",
            '{"device": "v1", "lat": 1, "lng": 200, "t": 1714564801000}\n',
            '{"device": "v1", "lat": 1.5, "lng": 2, "t": "2024-05-01T12:00:02Z"}\n',
        ),
        sink,
        metrics,
    )
    assert [p.t_ms for p in received] == [T_MS, T_MS + 2000]
    assert (summary.accepted, summary.rejected) == (2, 2)
    assert [(e.lineno, e.field) for e in summary.errors] == [(3, "json"), (4, "lng")]
    assert metrics.positions_rejected.value("ndjson", "lng") == 1
    assert metrics.positions_in.value("ndjson") == 2


async def test_iter_lines_reads_a_file_and_names_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "fixes.ndjson"
    path.write_text('{"a": 1}\n{"b": 2}\n', encoding="utf-8")
    assert [line async for line in iter_lines(path)] == ['{"a": 1}\n', '{"b": 2}\n']
    with pytest.raises(ConfigError, match=r"missing\.ndjson"):
        [line async for line in iter_lines(tmp_path / "missing.ndjson")]


INPUT_KEY = "input-key-93c1"
OSMAND = {"id": "phone", "lat": "1", "lon": "2", "timestamp": "1714564800"}


@pytest.fixture
def keyed_url(bridge: Bridge) -> Iterator[str]:
    app = create_input_app(
        bridge.sink, bridge.metrics, health=bridge.health, input_key=Secret(INPUT_KEY)
    )
    with serve_in_thread(app) as base:
        yield base


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param(
            "GET", "/", {"headers": {"X-Api-Key": INPUT_KEY}, "params": OSMAND}, id="x-api-key"
        ),
        pytest.param(
            "GET", "/", {"headers": {"Authorization": f"Bearer {INPUT_KEY}"}, "params": OSMAND},
            id="bearer",
        ),
        pytest.param("GET", "/", {"params": {**OSMAND, "key": INPUT_KEY}}, id="query-get"),
        pytest.param(
            "POST", f"/?key={INPUT_KEY}", {"data": OSMAND}, id="query-with-form-body"
        ),
        pytest.param(
            "POST", f"/osmand?key={INPUT_KEY}",
            {"json": {"device_id": "phone", "location": {"timestamp": "2024-05-01T12:00:00Z",
                      "coords": {"latitude": 1, "longitude": 2}}}},
            id="query-with-json-body",
        ),
        pytest.param(
            "POST", "/traccar",
            {"headers": {"X-Api-Key": INPUT_KEY},
             "json": {**traccar_body(), "device": {"uniqueId": "phone"},
                      "position": {**traccar_body()["position"], "latitude": 1, "longitude": 2,
                                   "fixTime": "2024-05-01T12:00:00Z", "speed": None,
                                   "course": None}}},
            id="traccar-header",
        ),
    ],
)  # fmt: skip
def test_the_input_key_is_accepted_in_a_header_a_bearer_token_or_the_url(
    keyed_url: str, bridge: Bridge, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = httpx.request(method, keyed_url + path, **kwargs)
    assert response.status_code == 200, response.text
    assert bridge.received == [Position("phone", 1.0, 2.0, T_MS)]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "source"),
    [
        pytest.param("GET", "/", {"params": OSMAND}, "osmand", id="no-key"),
        pytest.param("GET", "/", {"params": {**OSMAND, "key": "guess"}}, "osmand", id="wrong-key"),
        pytest.param(
            "GET", "/", {"params": {**OSMAND, "key": INPUT_KEY[:-1]}}, "osmand", id="prefix"
        ),
        pytest.param(
            "GET", "/", {"headers": {"Authorization": f"Basic {INPUT_KEY}"}, "params": OSMAND},
            "osmand", id="not-bearer",
        ),
        pytest.param("POST", "/traccar", {"json": traccar_body()}, "traccar", id="traccar"),
        pytest.param(
            "POST", "/traccar", {"content": b"[" * 100_000}, "traccar", id="deep-body-unread"
        ),
    ],
)  # fmt: skip
def test_without_the_input_key_a_position_gets_401_counted_and_never_logged(
    keyed_url: str,
    bridge: Bridge,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    source: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with structlog.testing.capture_logs() as logs:
        response = httpx.request(method, keyed_url + path, **kwargs)
    assert response.status_code == 401
    assert "X-Api-Key" in response.json()["error"]
    assert response.json()["field"] == "key"
    assert bridge.received == []
    assert bridge.outbox.depth() == 0
    assert bridge.metrics.unauthorised_inputs.value(source) == 1
    metrics = httpx.get(f"{keyed_url}/metrics").text
    assert f'driver_agent_bridge_inputs_unauthorized_total{{source="{source}"}} 1' in metrics
    assert "guess" not in repr(logs) + capsys.readouterr().err
    assert INPUT_KEY not in repr(logs)


def test_health_and_metrics_need_no_input_key(keyed_url: str) -> None:
    assert httpx.get(f"{keyed_url}/healthz").status_code == 200
    assert httpx.get(f"{keyed_url}/metrics").status_code == 200


def test_a_json_body_with_another_content_type_gets_415(url: str, bridge: Bridge) -> None:
    response = httpx.post(
        f"{url}/traccar", content=json.dumps(traccar_body()), headers={"content-type": "text/xml"}
    )
    assert response.status_code == 415
    assert "text/xml" in response.json()["error"]
    assert bridge.metrics.positions_rejected.value("traccar", "body") == 1
    assert bridge.received == []


def test_a_head_request_and_a_wrong_method_take_starlettes_way_with_the_same_handlers(
    url: str, bridge: Bridge
) -> None:
    params = {"id": "phone", "lat": "1", "lon": "2", "timestamp": "1714564800"}
    head = httpx.head(url, params=params)  # what the lean path does not serve
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/plain; charset=utf-8"
    assert bridge.received == [Position("phone", 1.0, 2.0, T_MS)]
    assert bridge.metrics.positions_in.value("osmand") == 1
    assert httpx.head(url, params={**params, "lat": "95"}).status_code == 400
    assert httpx.get(f"{url}/traccar").status_code == 405
    assert httpx.put(url, params=params).status_code == 405
