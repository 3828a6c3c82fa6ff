"""Every payload parser, fed generated and mutated input, returns a value or raises the project's
own error (a `DriverAgentError`), never another exception and never a hang.

Parsers: the webhook payloads (all five webhooks, and the order inside them), the bridge's
position formats (Traccar JSON, OsmAnd query/form, OsmAnd JSON, NDJSON lines through the reader),
GPX (points and tracks), GeoJSON tracks, and the configuration (generated tables through
`load_config`, and mutated `config.example.toml` text).
"""

from __future__ import annotations

import contextlib
import json
import string
import typing
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_mutations import every_edge_mutation, json_values, mutated, scalars

from driver_agent.bridge.metrics import BridgeMetrics
from driver_agent.bridge.positions import (
    Position,
    parse_ndjson_line,
    parse_osmand,
    parse_osmand_json,
    parse_time_ms,
    parse_traccar_forward,
)
from driver_agent.bridge.replay import plan_replay
from driver_agent.bridge.sources import read_ndjson
from driver_agent.core.config import Config, load_config
from driver_agent.core.errors import DriverAgentError
from driver_agent.fleetapi.webhook_payloads import WebhookKind, parse_order, parse_webhook
from driver_agent.geo.gpx import parse_gpx_points
from driver_agent.geo.tracks import parse_geojson, parse_gpx

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def only_our_errors(parse: Callable[..., Any], *args: Any) -> None:
    """Call the parser: a value or a `DriverAgentError` pass; anything else fails the test."""
    with contextlib.suppress(DriverAgentError):
        parse(*args)


def text_mutations(seed: str) -> st.SearchStrategy[str]:
    """`seed` with a slice deleted, duplicated, or replaced by generated text."""

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        text = seed
        for _ in range(draw(st.integers(1, 3))):
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, min(len(text), start + 40)))
            action = draw(st.sampled_from(["delete", "duplicate", "replace"]))
            if action == "delete":
                text = text[:start] + text[end:]
            elif action == "duplicate":
                text = text[:end] + text[start:end] + text[end:]
            else:
                noise = draw(st.text(alphabet=string.printable + "äö\u2028", max_size=20))
                text = text[:start] + noise + text[end:]
        return text

    return mutate()


# -- webhooks ---------------------------------------------------------------------------------

WEBHOOK_SEEDS: dict[WebhookKind, list[Any]] = {
    WebhookKind.DELIVERY_CREATED: [json.loads((DATA / "webhooks" / "created.json").read_text())],
    WebhookKind.DELIVERY_UPDATED: [
        json.loads(p.read_text()) for p in sorted((DATA / "webhooks").glob("updated_*.json"))
    ],
    WebhookKind.DELIVERY_CANCELLED: [{"id": 7, "delivery_id": "da-7", "reason_id": 1}],
    WebhookKind.RETURN_DELIVERY_CREATED: [{"return_task_id": 12}],
    WebhookKind.MERCHANT_REGISTERED: [{"merchant_uuid": "6c1f-11"}],
}


@PROPERTY
@given(kind=st.sampled_from(sorted(WebhookKind)), data=st.data())
def test_webhook_payloads_raise_only_our_errors(kind: WebhookKind, data: st.DataObject) -> None:
    doc = data.draw(st.one_of(mutated(WEBHOOK_SEEDS[kind]), json_values))
    only_our_errors(parse_webhook, kind, json.dumps(doc).encode())


@PROPERTY
@given(st.one_of(st.binary(max_size=200), text_mutations(
    (DATA / "webhooks" / "created.json").read_text()).map(str.encode)))  # fmt: skip
def test_webhook_bodies_of_any_bytes_raise_only_our_errors(raw: bytes) -> None:
    for kind in WebhookKind:
        only_our_errors(parse_webhook, kind, raw)


@PROPERTY
@given(mutated(WEBHOOK_SEEDS[WebhookKind.DELIVERY_CREATED]))
def test_the_order_inside_a_full_update_raises_only_our_errors(doc: Any) -> None:
    if isinstance(doc, dict):
        only_our_errors(parse_order, doc, "task")


# -- positions --------------------------------------------------------------------------------

TRACCAR = {
    "device": {"id": 7, "uniqueId": "van-1"},
    "position": {
        "fixTime": "2024-05-01T12:00:00.000+00:00",
        "latitude": 60.165,
        "longitude": 24.93,
        "speed": 3.0,
        "course": 90.0,
        "accuracy": 5.0,
        "valid": True,
    },
    "event": {"type": "geofenceEnter"},
}
OSMAND_JSON = {
    "device_id": "van-1",
    "location": {
        "timestamp": "2024-05-01T12:00:00Z",
        "coords": {"latitude": 60.1, "longitude": 24.9, "speed": 2.0, "heading": -1, "accuracy": 3},
    },
}
OSMAND = {"id": "van-1", "lat": "60.165", "lon": "24.93", "timestamp": "1714564800",
          "speed": "3", "bearing": "90", "accuracy": "5", "valid": "true"}  # fmt: skip
OSMAND_LOCATION = {"deviceid": "van-1", "location": "60.1,24.9", "timestamp": "2024-05-01 12:00:00"}
NDJSON = {"device": "van-1", "lat": 60.1, "lng": 24.9, "t": 1714564800000, "speed_mps": 1.0,
          "bearing_deg": 10.0, "accuracy_m": 4.0}  # fmt: skip


@PROPERTY
@given(st.one_of(mutated([TRACCAR]), json_values))
def test_traccar_json_raises_only_our_errors(doc: Any) -> None:
    only_our_errors(parse_traccar_forward, doc)


@PROPERTY
@given(st.one_of(mutated([OSMAND_JSON]), json_values))
def test_osmand_json_raises_only_our_errors(doc: Any) -> None:
    only_our_errors(parse_osmand_json, doc)


def _as_params(doc: Any) -> dict[str, str]:
    if not isinstance(doc, dict):
        return {"id": json.dumps(doc)}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in doc.items()}


@PROPERTY
@given(
    st.one_of(
        mutated([OSMAND, OSMAND_LOCATION]).map(_as_params),
        st.dictionaries(st.sampled_from(sorted({*OSMAND, *OSMAND_LOCATION})), st.text(max_size=30)),
    ),
    st.booleans(),
)
def test_osmand_query_and_form_raise_only_our_errors(params: dict[str, str], form: bool) -> None:
    if form:  # through the form encoding the bridge reads a POST body with
        params = dict(parse_qsl(urlencode(params), keep_blank_values=True))
    only_our_errors(parse_osmand, params)


@PROPERTY
@given(
    st.one_of(
        mutated([NDJSON]).map(json.dumps),
        json_values.map(json.dumps),
        text_mutations(json.dumps(NDJSON)),
        st.text(max_size=80),
    ),
    st.one_of(scalars, st.text(max_size=40)),
)
def test_ndjson_lines_and_times_raise_only_our_errors(line: str, time_value: Any) -> None:
    only_our_errors(parse_ndjson_line, line, 1)
    only_our_errors(parse_time_ms, time_value, "t")


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.one_of(mutated([NDJSON]).map(json.dumps), st.text(max_size=40)), max_size=8))
def test_the_ndjson_reader_skips_every_bad_line_and_counts_it(lines: list[str]) -> None:
    taken: list[Position] = []

    async def sink(position: Position) -> None:
        taken.append(position)

    async def stream() -> AsyncIterator[str]:
        for line in lines:
            yield line

    summary = anyio.run(read_ndjson, stream(), sink, BridgeMetrics())
    assert summary.accepted == len(taken)
    assert summary.accepted + summary.rejected == sum(1 for line in lines if line.strip())


# -- GPX and GeoJSON --------------------------------------------------------------------------

GPX_SEEDS = [p.read_text() for p in sorted((DATA / "bridge").glob("*.gpx"))] + [
    (DATA / "noisy-gappy.gpx").read_text()
]
GEOJSON = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[24.93, 60.16], [24.94, 60.17]]},
            "properties": {
                "name": "r",
                "times": ["2024-05-01T12:00:00Z", 1714564900],
                "road_classes": ["primary"],
                "speed_limits_kph": [50],
                "junctions": [0, 1],
            },
        },
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [24.93, 60.16]}},
        {
            "type": "Feature",
            "geometry": {
                "type": "MultiLineString", "coordinates": [[[24.95, 60.18], [24.96, 60.19]]]
            },
            "properties": {},
        },
    ],
}  # fmt: skip


@PROPERTY
@given(st.one_of(*(text_mutations(seed[:3000]) for seed in GPX_SEEDS), st.text(max_size=200)))
def test_gpx_raises_only_our_errors(text: str) -> None:
    only_our_errors(parse_gpx_points, text, "t.gpx")
    only_our_errors(parse_gpx, text, "t.gpx")
    try:
        doc = parse_gpx_points(text, "t.gpx")
    except DriverAgentError:
        return
    only_our_errors(plan_replay, doc, "van-1", 1_714_564_800_000, "t.gpx")


@PROPERTY
@given(
    st.one_of(
        mutated([GEOJSON]).map(json.dumps),
        text_mutations(json.dumps(GEOJSON)),
        json_values.map(json.dumps),
        st.sampled_from(["[" * 5000, '{"type": ' + "9" * 5000 + "}", '{"a": 1e999}']),
    )
)
def test_geojson_raises_only_our_errors(text: str) -> None:
    only_our_errors(parse_geojson, text, "t.geojson")


# -- configuration ----------------------------------------------------------------------------

EXAMPLE = (ROOT / "config.example.toml").read_text()
SECTIONS = {
    name: [f.name for f in msgspec.structs.fields(section)]
    for name, section in typing.get_type_hints(Config).items()
}


@PROPERTY
@given(data=st.data())
def test_config_tables_raise_only_config_errors(data: st.DataObject) -> None:
    overrides: dict[str, object] = {}
    for _ in range(data.draw(st.integers(1, 4))):
        section = data.draw(st.sampled_from(sorted(SECTIONS)))
        key = data.draw(st.sampled_from([*SECTIONS[section], "nope"]))
        overrides[f"{section}.{key}"] = data.draw(json_values)
    env = data.draw(st.dictionaries(st.sampled_from(["DRIVER_AGENT_CLIENT_SECRET",
                                                     "DRIVER_AGENT_BRIDGE_INPUT_KEY"]),
                                    st.text(max_size=8)))  # fmt: skip
    only_our_errors(lambda: load_config(env=env, overrides=overrides))


@PROPERTY
@given(text_mutations(EXAMPLE))
def test_mutated_example_config_raises_only_config_errors(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "mutated.toml"
    path.write_text(text, encoding="utf-8")
    only_our_errors(load_config, path)


# -- every field, every edge value (exhaustive, deterministic) --------------------------------


def test_every_field_of_every_seed_at_every_edge_value_raises_only_our_errors() -> None:
    """What random mutation reaches only by luck: each value of each seed replaced by each edge
    value ("²" in an id, 1e308 in a time, a list where a string was, ...), or removed."""
    parsed = 0
    for kind, seeds in WEBHOOK_SEEDS.items():
        for seed in seeds:
            for doc in every_edge_mutation(seed):
                only_our_errors(parse_webhook, kind, json.dumps(doc).encode())
                parsed += 1
    for parse, seed in [
        (parse_traccar_forward, TRACCAR),
        (parse_osmand_json, OSMAND_JSON),
        (lambda doc: parse_ndjson_line(json.dumps(doc), 1), NDJSON),
        (lambda doc: parse_osmand(_as_params(doc)), OSMAND),
        (lambda doc: parse_osmand(_as_params(doc)), OSMAND_LOCATION),
        (lambda doc: parse_geojson(json.dumps(doc), "t.geojson"), GEOJSON),
    ]:
        for doc in every_edge_mutation(seed):
            only_our_errors(parse, doc)
            parsed += 1
    assert parsed > 10_000
