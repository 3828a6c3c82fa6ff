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
from typing import TypeVar

import msgspec

from driver_agent.core.errors import ConfigError
from driver_agent.core.jsonbody import BodyError, decode_json_text
from driver_agent.core.model import Fix
from driver_agent.core.typed import convert

KNOT_MPS = 1852.0 / 3600.0
MIN_T_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_T_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
SECONDS_BELOW = 1e11  # epoch numbers below this are seconds, at or above it milliseconds
MAX_DEVICE_ID_LEN = 128

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

T = TypeVar("T")

Number = float | str | None  # a JSON number, or the text of one (devices send both), or absent
DeviceId = int | str | None


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


# -- the wire shapes (unknown fields are ignored: devices send many more) ----------------------


class TraccarFix(msgspec.Struct, frozen=True):
    latitude: Number = None
    longitude: Number = None
    fix_time: Number = msgspec.field(default=None, name="fixTime")
    speed: Number = None  # knots
    course: Number = None
    accuracy: Number = None  # 0 means unknown
    valid: bool | None = None


class TraccarDevice(msgspec.Struct, frozen=True):
    unique_id: DeviceId = msgspec.field(default=None, name="uniqueId")


class TraccarForward(msgspec.Struct, frozen=True):
    """Traccar's position or event forwarding body."""

    position: TraccarFix | None = None
    device: TraccarDevice | None = None
    event: object = None

    @property
    def bare_event(self) -> bool:
        """An event that carries no position (deviceOnline, say): nothing to take."""
        return self.event is not None and self.position is None


class OsmAndQuery(msgspec.Struct, frozen=True):
    """OsmAnd / Traccar Client parameters (query string or form), all text."""

    id: str | None = None
    deviceid: str | None = None
    lat: str | None = None
    lon: str | None = None
    location: str | None = None
    timestamp: str | None = None
    speed: str | None = None  # knots
    bearing: str | None = None
    heading: str | None = None
    accuracy: str | None = None
    valid: str | None = None


class OsmAndCoords(msgspec.Struct, frozen=True):
    latitude: Number = None
    longitude: Number = None
    speed: Number = None  # m/s, -1 unknown
    heading: Number = None  # -1 unknown
    accuracy: Number = None


class OsmAndLocation(msgspec.Struct, frozen=True):
    timestamp: Number = None
    coords: OsmAndCoords | None = None


class OsmAndJson(msgspec.Struct, frozen=True):
    """The JSON newer Traccar Client versions post."""

    device_id: DeviceId = None
    location: OsmAndLocation | None = None


class NdjsonFix(msgspec.Struct, frozen=True):
    device: DeviceId = None
    lat: Number = None
    lng: Number = None
    t: Number = None
    speed_mps: Number = None
    bearing_deg: Number = None
    accuracy_m: Number = None


def _decode(data: object, type_: type[T], top: str, lineno: int | None = None) -> T:
    """`data` as a `type_`; a wrong type is a `PositionError` naming the field (`top` for the
    whole document)."""

    def error(where: str, message: str) -> PositionError:
        return PositionError(where or top, message, lineno)

    return convert(data, type_, error=error)


# -- the parsers ------------------------------------------------------------------------------


def decode_traccar_forward(body: object) -> TraccarForward:
    """Traccar's forwarding JSON as typed fields (not yet checked as a position)."""
    return _decode(body, TraccarForward, "body")


def parse_traccar_forward(body: object) -> Position:
    """Read Traccar's forwarded position (or event carrying a position) JSON."""
    return traccar_position(decode_traccar_forward(body))


def traccar_position(forward: TraccarForward) -> Position:
    position = forward.position
    if position is None:
        what = "an event without a position" if forward.event is not None else "no position"
        raise PositionError("position", f"missing: {what}")
    if forward.device is None:
        raise PositionError("device", "missing: the device object carries uniqueId")
    device_id = _device_id(forward.device.unique_id, "device.uniqueId")
    if position.valid is False:
        raise PositionError("position.valid", "the device marked this fix invalid (no GPS lock)")
    speed_kn = _optional_float(position.speed, "position.speed", low=0.0)
    accuracy_m = _optional_float(position.accuracy, "position.accuracy", low=0.0)
    return Position(
        device_id=device_id,
        lat=_lat(position.latitude, "position.latitude"),
        lng=_lng(position.longitude, "position.longitude"),
        t_ms=_time_ms(position.fix_time, "position.fixTime"),
        speed_mps=None if speed_kn is None else speed_kn * KNOT_MPS,
        bearing_deg=_bearing(position.course, "position.course"),
        accuracy_m=accuracy_m or None,
    )


def parse_osmand(params: Mapping[str, str]) -> Position:
    """Read OsmAnd / Traccar Client query (or form) parameters."""
    q = _decode(dict(params), OsmAndQuery, "query")
    device_id = _device_id(q.id if q.id is not None else q.deviceid, "id")
    if (q.valid or "true").strip().lower() in ("false", "0"):
        raise PositionError("valid", "the device marked this fix invalid (no GPS lock)")
    if q.lat is not None or q.lon is not None or q.location is None:
        lat = _lat(q.lat, "lat")
        lng = _lng(q.lon, "lon")
    else:
        parts = q.location.split(",")
        if len(parts) != 2:
            raise PositionError("location", f"expected 'lat,lon', got {q.location!r}")
        lat = _lat(parts[0], "location")
        lng = _lng(parts[1], "location")
    speed_kn = _optional_float(q.speed, "speed", low=0.0)
    bearing, bearing_field = (q.heading, "heading") if q.bearing is None else (q.bearing, "bearing")
    return Position(
        device_id=device_id,
        lat=lat,
        lng=lng,
        t_ms=_time_ms(q.timestamp, "timestamp"),
        speed_mps=None if speed_kn is None else speed_kn * KNOT_MPS,
        bearing_deg=_bearing(bearing, bearing_field),
        accuracy_m=_optional_float(q.accuracy, "accuracy", low=0.0),
    )


def parse_osmand_json(body: object) -> Position:
    """Read the JSON form newer Traccar Client versions post (speed in m/s there)."""
    doc = _decode(body, OsmAndJson, "body")
    device_id = _device_id(doc.device_id, "device_id")
    location = doc.location
    if location is None:
        raise PositionError("location", "missing or not an object")
    coords = location.coords
    if coords is None:
        raise PositionError("location.coords", "missing or not an object")
    speed_mps = _optional_float(coords.speed, "location.coords.speed", low=-1.0)
    return Position(
        device_id=device_id,
        lat=_lat(coords.latitude, "location.coords.latitude"),
        lng=_lng(coords.longitude, "location.coords.longitude"),
        t_ms=_time_ms(location.timestamp, "location.timestamp"),
        # the phone reports -1 for "unknown"
        speed_mps=None if speed_mps is None or speed_mps < 0 else speed_mps,
        bearing_deg=_bearing(coords.heading, "location.coords.heading", unknown_below=0),
        accuracy_m=_optional_float(coords.accuracy, "location.coords.accuracy", low=0.0),
    )


def parse_ndjson_line(line: str, lineno: int) -> Position:
    """Read one NDJSON line; every error names the line number and the field."""
    try:
        obj = decode_json_text(line)
    except BodyError as exc:
        raise PositionError("json", f"not valid JSON ({exc.message})", lineno) from None
    fix = _decode(obj, NdjsonFix, "json", lineno)
    try:
        return Position(
            device_id=_device_id(fix.device, "device"),
            lat=_lat(fix.lat, "lat"),
            lng=_lng(fix.lng, "lng"),
            t_ms=_time_ms(fix.t, "t"),
            speed_mps=_optional_float(fix.speed_mps, "speed_mps", low=0.0),
            bearing_deg=_bearing(fix.bearing_deg, "bearing_deg"),
            accuracy_m=_optional_float(fix.accuracy_m, "accuracy_m", low=0.0),
        )
    except PositionError as exc:
        raise PositionError(exc.field, exc.message, lineno) from None


def parse_time_ms(value: object, field: str) -> int:
    """Epoch ms from epoch seconds, epoch ms or ISO-8601 (naive means UTC); range-checked."""
    number: Number = _decode(value, Number, field)  # type: ignore[arg-type]
    return _time_ms(number, field)


def _device_id(value: DeviceId, field: str) -> str:
    if value is None:
        raise PositionError(field, "missing")
    device_id = str(value).strip()
    if not device_id:
        raise PositionError(field, "empty")
    if len(device_id) > MAX_DEVICE_ID_LEN:
        raise PositionError(field, f"longer than {MAX_DEVICE_ID_LEN} characters")
    return device_id


def _float(value: Number, field: str) -> float:
    if value is None:
        raise PositionError(field, "missing")
    if isinstance(value, str):
        if not _NUMBER.fullmatch(value.strip()):
            raise PositionError(field, f"expected a number, got {_show(value)}")
        value = float(value)
    if not math.isfinite(value):
        raise PositionError(field, f"must be finite, got {value}")
    return value


def _optional_float(value: Number, field: str, *, low: float) -> float | None:
    if value is None or value == "":
        return None
    number = _float(value, field)
    if number < low:
        raise PositionError(field, f"must be >= {low:g}, got {number:g}")
    return number


def _lat(value: Number, field: str) -> float:
    lat = _float(value, field)
    if not -90.0 <= lat <= 90.0:
        raise PositionError(field, f"latitude must be within -90..90, got {lat:g}")
    return lat


def _lng(value: Number, field: str) -> float:
    lng = _float(value, field)
    if not -180.0 <= lng <= 180.0:
        raise PositionError(field, f"longitude must be within -180..180, got {lng:g}")
    return lng


def _bearing(value: Number, field: str, *, unknown_below: float | None = None) -> float | None:
    if value is None or value == "":
        return None
    bearing = _float(value, field)
    if unknown_below is not None and bearing < unknown_below:
        return None
    return bearing % 360.0


def _time_ms(value: Number, field: str) -> int:
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
