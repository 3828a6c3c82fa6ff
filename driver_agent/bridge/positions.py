"""The Position value and the parsers for every position input the bridge accepts (pure).

Three wire formats come in; each parser returns one `Position` or raises `PositionError` naming
the field (and, for NDJSON, the line). Times always come from the device, never from arrival.

Traccar position / event forwarding (`forward.type=json`, `event.forward.url`), POSTed JSON::

    {"position": {"deviceId": 7, "fixTime": "2024-05-01T12:00:00.000+00:00",
                  "latitude": 52.5, "longitude": 13.4, "speed": 10.8 (KNOTS),
                  "course": 90.0, "accuracy": 5.0, "valid": true, "attributes": {...}},
     "device": {"id": 7, "uniqueId": "356938035643809", "name": "van 1"},
     "event": {"type": "geofenceEnter", ...}}                      (event forwarding only)

The device id the bridge maps is `device.uniqueId` (the IMEI or app id the device reports), not
Traccar's internal numeric `deviceId`. Traccar's `accuracy` of 0 means "unknown" and becomes None.

OsmAnd over HTTP (what Traccar Client and OsmAnd send; Traccar's `OsmAndProtocolDecoder`):
`id` or `deviceid`; `lat` + `lon`, or `location=lat,lon`; `timestamp` as epoch seconds, epoch
milliseconds, ISO-8601 or `yyyy-MM-dd HH:mm:ss` (UTC); `speed` in KNOTS (Traccar's convention:
its decoder reads it as "kn", and Traccar Client sends knots); `bearing` or `heading` in degrees;
`accuracy` in metres; `valid=false` marks a fix without GPS lock. Unlike Traccar, a missing
`timestamp` is refused rather than replaced by the arrival time.

The newer Traccar Client (9.x) posts JSON instead: `{"device_id": ..., "location": {"timestamp":
ISO, "coords": {"latitude", "longitude", "speed" (METRES PER SECOND), "heading", "accuracy"}}}`;
`parse_osmand_json` reads that form.

NDJSON, one object a line: `{"device": "van-1", "lat": 52.5, "lng": 13.4, "t": ...}` with optional
`speed_mps`, `bearing_deg`, `accuracy_m`. `t` is epoch milliseconds, epoch seconds (a number
below 1e11 is read as seconds: 1e11 s is the year 5138, 1e11 ms is 1973) or an ISO-8601 string.

Every time must fall in 2000-01-01 .. 2100-01-01 UTC; naive ISO times are read as UTC. Fixes a
device marks invalid (no GPS lock) are refused: they usually repeat a stale location and would
mislead the geofence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from driver_agent.core.errors import ConfigError
from driver_agent.core.jsonbody import BodyError, decode_json_text
from driver_agent.core.model import Fix

KNOT_MPS = 1852.0 / 3600.0
MIN_T_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_T_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
SECONDS_BELOW = 1e11  # epoch numbers below this are seconds, at or above it milliseconds
MAX_DEVICE_ID_LEN = 128

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class PositionError(ConfigError):
    """A position input refused: `field` names the offending field, `lineno` the NDJSON line."""

    def __init__(self, field: str, message: str, lineno: int | None = None) -> None:
        where = field if lineno is None else f"line {lineno}: {field}"
        super().__init__(where, message)
        self.field = field
        self.lineno = lineno


@dataclass(frozen=True, slots=True)
class Position:
    """One fix from one device: degrees, device time in epoch ms, optional motion and accuracy."""

    device_id: str
    lat: float
    lng: float
    t_ms: int
    speed_mps: float | None = None
    bearing_deg: float | None = None
    accuracy_m: float | None = None

    def to_fix(self) -> Fix:
        return Fix(self.lat, self.lng, self.t_ms, self.accuracy_m, self.speed_mps)


def parse_traccar_forward(body: object) -> Position:
    """Read Traccar's forwarded position (or event carrying a position) JSON."""
    if not isinstance(body, Mapping):
        raise PositionError("body", "expected a JSON object")
    position = body.get("position")
    if position is None:
        what = "an event without a position" if "event" in body else "no position"
        raise PositionError("position", f"missing: {what}")
    if not isinstance(position, Mapping):
        raise PositionError("position", "expected an object")
    device = body.get("device")
    if not isinstance(device, Mapping):
        raise PositionError("device", "missing: the device object carries uniqueId")
    device_id = _device_id(device.get("uniqueId"), "device.uniqueId")
    if position.get("valid") is False:
        raise PositionError("position.valid", "the device marked this fix invalid (no GPS lock)")
    speed_kn = _optional_float(position.get("speed"), "position.speed", low=0.0)
    accuracy_m = _optional_float(position.get("accuracy"), "position.accuracy", low=0.0)
    return Position(
        device_id=device_id,
        lat=_lat(position.get("latitude"), "position.latitude"),
        lng=_lng(position.get("longitude"), "position.longitude"),
        t_ms=_time_ms(position.get("fixTime"), "position.fixTime"),
        speed_mps=None if speed_kn is None else speed_kn * KNOT_MPS,
        bearing_deg=_bearing(position.get("course"), "position.course"),
        accuracy_m=accuracy_m or None,
    )


def parse_osmand(params: Mapping[str, str]) -> Position:
    """Read OsmAnd / Traccar Client query (or form) parameters."""
    raw_id = params.get("id", params.get("deviceid"))
    device_id = _device_id(raw_id, "id")
    if params.get("valid", "true").strip().lower() in ("false", "0"):
        raise PositionError("valid", "the device marked this fix invalid (no GPS lock)")
    if "lat" in params or "lon" in params or "location" not in params:
        lat = _lat(params.get("lat"), "lat")
        lng = _lng(params.get("lon"), "lon")
    else:
        parts = params["location"].split(",")
        if len(parts) != 2:
            raise PositionError("location", f"expected 'lat,lon', got {params['location']!r}")
        lat = _lat(parts[0], "location")
        lng = _lng(parts[1], "location")
    speed_kn = _optional_float(params.get("speed"), "speed", low=0.0)
    bearing_field = "bearing" if "bearing" in params else "heading"
    return Position(
        device_id=device_id,
        lat=lat,
        lng=lng,
        t_ms=_time_ms(params.get("timestamp"), "timestamp"),
        speed_mps=None if speed_kn is None else speed_kn * KNOT_MPS,
        bearing_deg=_bearing(params.get(bearing_field), bearing_field),
        accuracy_m=_optional_float(params.get("accuracy"), "accuracy", low=0.0),
    )


def parse_osmand_json(body: object) -> Position:
    """Read the JSON form newer Traccar Client versions post (speed in m/s there)."""
    if not isinstance(body, Mapping):
        raise PositionError("body", "expected a JSON object")
    device_id = _device_id(body.get("device_id"), "device_id")
    location = body.get("location")
    if not isinstance(location, Mapping):
        raise PositionError("location", "missing or not an object")
    coords = location.get("coords")
    if not isinstance(coords, Mapping):
        raise PositionError("location.coords", "missing or not an object")
    speed_mps = _optional_float(coords.get("speed"), "location.coords.speed", low=-1.0)
    return Position(
        device_id=device_id,
        lat=_lat(coords.get("latitude"), "location.coords.latitude"),
        lng=_lng(coords.get("longitude"), "location.coords.longitude"),
        t_ms=_time_ms(location.get("timestamp"), "location.timestamp"),
        # the phone reports -1 for "unknown"
        speed_mps=None if speed_mps is None or speed_mps < 0 else speed_mps,
        bearing_deg=_bearing(coords.get("heading"), "location.coords.heading", unknown_below=0),
        accuracy_m=_optional_float(coords.get("accuracy"), "location.coords.accuracy", low=0.0),
    )


def parse_ndjson_line(line: str, lineno: int) -> Position:
    """Read one NDJSON line; every error names the line number and the field."""
    try:
        obj = decode_json_text(line)
    except BodyError as exc:
        raise PositionError("json", f"not valid JSON ({exc.message})", lineno) from None
    if not isinstance(obj, dict):
        raise PositionError("json", "expected a JSON object", lineno)
    try:
        return Position(
            device_id=_device_id(obj.get("device"), "device"),
            lat=_lat(obj.get("lat"), "lat"),
            lng=_lng(obj.get("lng"), "lng"),
            t_ms=_time_ms(obj.get("t"), "t"),
            speed_mps=_optional_float(obj.get("speed_mps"), "speed_mps", low=0.0),
            bearing_deg=_bearing(obj.get("bearing_deg"), "bearing_deg"),
            accuracy_m=_optional_float(obj.get("accuracy_m"), "accuracy_m", low=0.0),
        )
    except PositionError as exc:
        raise PositionError(exc.field, exc.message, lineno) from None


def parse_time_ms(value: object, field: str) -> int:
    """Epoch ms from epoch seconds, epoch ms or ISO-8601 (naive means UTC); range-checked."""
    return _time_ms(value, field)


def _device_id(value: object, field: str) -> str:
    if isinstance(value, bool) or value is None:
        raise PositionError(field, "missing")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise PositionError(field, f"expected a string, got {type(value).__name__}")
    device_id = value.strip()
    if not device_id:
        raise PositionError(field, "empty")
    if len(device_id) > MAX_DEVICE_ID_LEN:
        raise PositionError(field, f"longer than {MAX_DEVICE_ID_LEN} characters")
    return device_id


def _float(value: object, field: str) -> float:
    if value is None:
        raise PositionError(field, "missing")
    if isinstance(value, bool):
        raise PositionError(field, "expected a number, got a boolean")
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if not isinstance(value, int | float):
        raise PositionError(field, f"expected a number, got {_show(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise PositionError(field, f"must be finite, got {number}")
    return number


def _optional_float(value: object, field: str, *, low: float) -> float | None:
    if value is None or value == "":
        return None
    number = _float(value, field)
    if number < low:
        raise PositionError(field, f"must be >= {low:g}, got {number:g}")
    return number


def _lat(value: object, field: str) -> float:
    lat = _float(value, field)
    if not -90.0 <= lat <= 90.0:
        raise PositionError(field, f"latitude must be within -90..90, got {lat:g}")
    return lat


def _lng(value: object, field: str) -> float:
    lng = _float(value, field)
    if not -180.0 <= lng <= 180.0:
        raise PositionError(field, f"longitude must be within -180..180, got {lng:g}")
    return lng


def _bearing(value: object, field: str, *, unknown_below: float | None = None) -> float | None:
    if value is None or value == "":
        return None
    bearing = _float(value, field)
    if unknown_below is not None and bearing < unknown_below:
        return None
    return bearing % 360.0


def _time_ms(value: object, field: str) -> int:
    if value is None or value == "":
        raise PositionError(field, "missing: the device time is required")
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise PositionError(
                field, f"expected epoch s, epoch ms or ISO-8601, got {_show(value)}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        t_ms = round(moment.timestamp() * 1000)
    else:
        number = _float(value, field)
        if not abs(number) < MAX_T_MS:  # 1e308 * 1000 would overflow
            raise PositionError(field, f"time {_show(value)} is outside 2000..2100")
        t_ms = round(number * 1000) if abs(number) < SECONDS_BELOW else round(number)
    if not MIN_T_MS <= t_ms < MAX_T_MS:
        raise PositionError(field, f"time {_show(value)} is outside 2000..2100")
    return t_ms


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
