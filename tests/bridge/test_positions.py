"""Parsing Traccar forward JSON, OsmAnd parameters and NDJSON lines into Positions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from driver_agent.bridge.positions import (
    KNOT_MPS,
    Position,
    PositionError,
    parse_ndjson_line,
    parse_osmand,
    parse_osmand_json,
    parse_time_ms,
    parse_traccar_forward,
)
from driver_agent.core.errors import ConfigError

T_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z


def traccar_body(**position: Any) -> dict[str, Any]:
    pos: dict[str, Any] = {
        "id": 18336,
        "deviceId": 7,
        "protocol": "osmand",
        "deviceTime": "2024-05-01T11:59:59.000+00:00",
        "fixTime": "2024-05-01T12:00:00.000+00:00",
        "serverTime": "2024-05-01T12:00:03.000+00:00",
        "valid": True,
        "latitude": 52.52,
        "longitude": 13.405,
        "altitude": 34.0,
        "speed": 10.0,
        "course": 90.0,
        "accuracy": 5.0,
        "attributes": {"ignition": True},
    }
    pos.update(position)
    return {"position": pos, "device": {"id": 7, "uniqueId": "356938035643809", "name": "van 1"}}


def test_traccar_forward_maps_unique_id_device_time_and_knots() -> None:
    p = parse_traccar_forward(traccar_body())
    assert p == Position(
        device_id="356938035643809",
        lat=52.52,
        lng=13.405,
        t_ms=T_MS,
        speed_mps=pytest.approx(10.0 * KNOT_MPS),
        bearing_deg=90.0,
        accuracy_m=5.0,
    )


def test_traccar_event_forward_with_position_is_read_and_old_offset_form_accepted() -> None:
    body = traccar_body(fixTime="2018-09-14T15:34:17.000+0000")
    body["event"] = {"id": 1216, "deviceId": 7, "type": "geofenceEnter"}
    p = parse_traccar_forward(body)
    assert p.t_ms == 1_536_939_257_000


def test_traccar_zero_accuracy_means_unknown() -> None:
    assert parse_traccar_forward(traccar_body(accuracy=0.0)).accuracy_m is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param([], "body", id="not-an-object"),
        pytest.param({"event": {"type": "deviceOnline"}, "device": {}}, "position", id="event"),
        pytest.param({**traccar_body(), "device": {"id": 7}}, "device.uniqueId", id="no-unique"),
        pytest.param({"position": traccar_body()["position"]}, "device", id="no-device"),
        pytest.param(traccar_body(latitude=91), "position.latitude", id="lat-range"),
        pytest.param(traccar_body(longitude="east"), "position.longitude", id="lng-text"),
        pytest.param(traccar_body(fixTime=None), "position.fixTime", id="no-time"),
        pytest.param(traccar_body(fixTime="yesterday"), "position.fixTime", id="bad-time"),
        pytest.param(traccar_body(speed=-1), "position.speed", id="neg-speed"),
        pytest.param(traccar_body(valid=False), "position.valid", id="invalid-fix"),
        pytest.param(traccar_body(valid="yes"), "position.valid", id="valid-text"),
        pytest.param(traccar_body(latitude=[52]), "position.latitude", id="lat-list"),
        pytest.param(traccar_body(course=True), "position.course", id="course-bool"),
        pytest.param({**traccar_body(), "position": []}, "position", id="position-list"),
        pytest.param({**traccar_body(), "device": {"uniqueId": 1.5}}, "device.uniqueId", id="f"),
    ],
)
def test_traccar_bad_input_names_the_field(body: object, field: str) -> None:
    with pytest.raises(PositionError) as info:
        parse_traccar_forward(body)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(
            {"id": "123456", "lat": "52.52", "lon": "13.405", "timestamp": "1714564800"},
            Position("123456", 52.52, 13.405, T_MS),
            id="epoch-seconds",
        ),
        pytest.param(
            {"deviceid": "a", "lat": "1", "lon": "2", "timestamp": "1714564800123"},
            Position("a", 1.0, 2.0, T_MS + 123),
            id="deviceid-epoch-ms",
        ),
        pytest.param(
            {"id": "a", "location": "52.5,13.4", "timestamp": "2024-05-01T12:00:00Z"},
            Position("a", 52.5, 13.4, T_MS),
            id="location-iso",
        ),
        pytest.param(
            {"id": "a", "lat": "1", "lon": "2", "timestamp": "2024-05-01 12:00:00"},
            Position("a", 1.0, 2.0, T_MS),
            id="sql-datetime-utc",
        ),
        pytest.param(
            {
                "id": "a",
                "lat": "1",
                "lon": "2",
                "timestamp": "1714564800",
                "speed": "1",
                "heading": "370",
                "accuracy": "12.5",
                "batt": "80",
            },
            Position("a", 1.0, 2.0, T_MS, KNOT_MPS, 10.0, 12.5),
            id="speed-knots-heading-accuracy",
        ),
    ],
)
def test_osmand_parameters_parse(params: dict[str, str], expected: Position) -> None:
    assert parse_osmand(params) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"lat": "1", "lon": "2", "timestamp": "1714564800"}, "id", id="no-id"),
        pytest.param(
            {"id": " ", "lat": "1", "lon": "2", "timestamp": "1714564800"}, "id", id="blank"
        ),
        pytest.param({"id": "a", "lon": "2", "timestamp": "1714564800"}, "lat", id="no-lat"),
        pytest.param({"id": "a", "lat": "1", "lon": "2"}, "timestamp", id="no-time"),
        pytest.param({"id": "a", "lat": "1", "lon": "2", "timestamp": "5"}, "timestamp", id="1970"),
        pytest.param(
            {"id": "a", "lat": "nan", "lon": "2", "timestamp": "1714564800"}, "lat", id="nan"
        ),
        pytest.param(
            {"id": "a", "lat": "1", "lon": "181", "timestamp": "1714564800"}, "lon", id="lon"
        ),
        pytest.param(
            {"id": "a", "location": "1;2", "timestamp": "1714564800"}, "location", id="loc"
        ),
        pytest.param(
            {"id": "a", "lat": "1", "lon": "2", "timestamp": "1714564800", "speed": "fast"},
            "speed",
            id="speed-text",
        ),
        pytest.param(
            {"id": "a", "lat": "1", "lon": "2", "timestamp": "1714564800", "valid": "false"},
            "valid",
            id="invalid-fix",
        ),
    ],
)
def test_osmand_bad_parameters_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(PositionError) as info:
        parse_osmand(params)
    assert info.value.field == field


def test_osmand_json_reads_metres_per_second_and_unknown_markers() -> None:
    body = {
        "device_id": "phone-1",
        "location": {
            "timestamp": "2024-05-01T12:00:00.000Z",
            "coords": {
                "latitude": 52.5,
                "longitude": 13.4,
                "speed": 4.0,
                "heading": -1,
                "accuracy": 8.0,
            },
            "is_moving": True,
        },
    }
    assert parse_osmand_json(body) == Position("phone-1", 52.5, 13.4, T_MS, 4.0, None, 8.0)
    body["location"]["coords"]["speed"] = -1  # type: ignore[index]
    assert parse_osmand_json(body).speed_mps is None


def test_osmand_json_without_coords_names_the_field() -> None:
    with pytest.raises(PositionError) as info:
        parse_osmand_json({"device_id": "p", "location": {"timestamp": "2024-05-01T12:00:00Z"}})
    assert info.value.field == "location.coords"


@pytest.mark.parametrize(
    ("body", "field", "shown"),
    [
        pytest.param("phone", "body", "'phone' (a string)", id="not-an-object"),
        pytest.param({"device_id": True}, "device_id", "True (a boolean)", id="bool-id"),
        pytest.param({"device_id": "p", "location": [1]}, "location", "a list", id="list"),
        pytest.param(
            {"device_id": "p", "location": {"coords": {"latitude": {"deg": 1}}}},
            "location.coords.latitude",
            "a table/object",
            id="nested-object",
        ),
    ],
)
def test_osmand_json_of_the_wrong_type_names_the_field_and_the_value(
    body: object, field: str, shown: str
) -> None:
    with pytest.raises(PositionError) as info:
        parse_osmand_json(body)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: expected ")
    assert str(info.value).endswith(f"got {shown}")


@pytest.mark.parametrize(
    ("t", "t_ms"),
    [
        pytest.param(T_MS, T_MS, id="epoch-ms"),
        pytest.param(T_MS // 1000, T_MS, id="epoch-s"),
        pytest.param(T_MS / 1000 + 0.25, T_MS + 250, id="epoch-s-fraction"),
        pytest.param("2024-05-01T14:00:00+02:00", T_MS, id="iso-offset"),
        pytest.param("2024-05-01T12:00:00", T_MS, id="iso-naive-utc"),
    ],
)
def test_ndjson_time_forms_all_mean_the_same_instant(t: object, t_ms: int) -> None:
    line = json.dumps({"device": "van-1", "lat": 52.5, "lng": 13.4, "t": t})
    assert parse_ndjson_line(line, 1) == Position("van-1", 52.5, 13.4, t_ms)


def test_ndjson_optional_fields_and_numeric_device_id() -> None:
    line = json.dumps(
        {"device": 42, "lat": 1, "lng": 2, "t": T_MS, "speed_mps": 3.5, "accuracy_m": 4}
    )
    assert parse_ndjson_line(line, 1) == Position("42", 1.0, 2.0, T_MS, 3.5, None, 4.0)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        pytest.param("{not json", "json", id="broken"),
        pytest.param("[1, 2]", "json", id="array"),
        pytest.param('{"lat": 1, "lng": 2, "t": 1714564800}', "device", id="no-device"),
        pytest.param('{"device": true, "lat": 1, "lng": 2, "t": 1}', "device", id="bool-device"),
        pytest.param('{"device": "d", "lat": true, "lng": 2, "t": 1714564800}', "lat", id="bool"),
        pytest.param('{"device": "d", "lat": 1, "lng": -200, "t": 1714564800}', "lng", id="lng"),
        pytest.param('{"device": "d", "lat": 1, "lng": 2}', "t", id="no-t"),
        pytest.param('{"device": "d", "lat": 1, "lng": 2, "t": 4200000000000}', "t", id="2103"),
        pytest.param(
            '{"device": "d", "lat": 1, "lng": 2, "t": 1714564800, "speed_mps": -2}',
            "speed_mps",
            id="neg-speed",
        ),
    ],
)
def test_ndjson_bad_line_names_line_number_and_field(line: str, field: str) -> None:
    with pytest.raises(PositionError) as info:
        parse_ndjson_line(line, 17)
    assert (info.value.field, info.value.lineno) == (field, 17)
    assert str(info.value).startswith(f"line 17: {field}: ")


def test_position_error_is_a_config_error_and_converts_to_fix() -> None:
    assert issubclass(PositionError, ConfigError)
    fix = Position("d", 1.0, 2.0, T_MS, 3.0, 90.0, 4.0).to_fix()
    assert (fix.lat, fix.lng, fix.t_ms, fix.speed_mps, fix.accuracy_m) == (1.0, 2.0, T_MS, 3.0, 4.0)


def test_parse_time_ms_rejects_booleans() -> None:
    with pytest.raises(PositionError, match="boolean"):
        parse_time_ms(True, "t")
