"""GPX 1.0 / 1.1 text to points, with the line of every problem.

A streaming expat parser (the stdlib's; it never fetches external entities) that keeps the line
number of each element, so a bad file fails with a `TrackError` saying `file:line` and which
point is wrong. Track points (`<trkpt>`, every `<trkseg>` in document order) are the path; if a
file has none, its route points (`<rtept>`); if neither, its waypoints (`<wpt>`), provided there
are at least two. `<wpt>`s are also returned as named waypoints. Unknown elements (extensions)
are ignored.

Pure: text in, values out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.parsers import expat

from driver_agent.core.errors import TrackError

_POINT_TAGS = ("trkpt", "rtept", "wpt")


@dataclass(frozen=True, slots=True)
class GpxPoint:
    lat: float
    lng: float
    t_s: float | None = None
    name: str = ""
    line: int = 0


@dataclass(slots=True)
class GpxDocument:
    """What a GPX file holds: the path's points, the waypoints and the first track's name."""

    points: list[GpxPoint] = field(default_factory=list)
    waypoints: list[GpxPoint] = field(default_factory=list)
    name: str = ""


def parse_time(text: str) -> float | None:
    """ISO 8601 (`2019-06-27T23:19:39Z`, with fraction or offset) -> epoch seconds; None if bad."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _local(name: str) -> str:
    return name.rsplit(" ", 1)[-1].rsplit(":", 1)[-1]


class _Builder:
    def __init__(self, source: str, parser: expat.XMLParserType) -> None:
        self.source = source
        self.parser = parser
        self.stack: list[str] = []
        self.text: list[str] = []
        self.text_line = 0
        self.current: dict[str, object] | None = None
        self.found: dict[str, list[GpxPoint]] = {tag: [] for tag in _POINT_TAGS}
        self.track_name = ""

    def error(self, line: int, message: str) -> TrackError:
        return TrackError(f"{self.source}:{line}", message)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        line = self.parser.CurrentLineNumber
        if not self.stack and tag != "gpx":
            raise self.error(line, f"root element is <{tag}>, expected <gpx>")
        self.stack.append(tag)
        self.text = []
        self.text_line = line
        if tag in _POINT_TAGS:
            number = len(self.found[tag]) + 1
            where = f"<{tag}> #{number}"
            coords: dict[str, float] = {}
            for key, bound in (("lat", 90.0), ("lon", 180.0)):
                raw = attrs.get(key)
                if raw is None:
                    raise self.error(line, f"{where}: missing {key!r} attribute")
                try:
                    value = float(raw)
                except ValueError:
                    raise self.error(line, f"{where}: {key} {raw!r} is not a number") from None
                if not (math.isfinite(value) and -bound <= value <= bound):
                    raise self.error(line, f"{where}: {key} {value!r} is outside ±{bound:g}")
                coords[key] = value
            self.current = {"lat": coords["lat"], "lng": coords["lon"], "line": line}

    def end(self, name: str) -> None:
        tag = self.stack.pop()
        text = "".join(self.text).strip()
        self.text = []
        parent = self.stack[-1] if self.stack else ""
        cur = self.current
        if cur is not None and tag == "time" and parent in _POINT_TAGS:
            t = parse_time(text)
            if t is None:
                raise self.error(self.text_line, f"<{parent}>: time {text!r} is not ISO 8601")
            cur["t_s"] = t
        elif cur is not None and tag == "name" and parent in _POINT_TAGS:
            cur["name"] = text
        elif tag == "name" and parent in ("trk", "rte") and not self.track_name:
            self.track_name = text
        elif tag in _POINT_TAGS and cur is not None:
            t_s = cur.get("t_s")
            self.found[tag].append(
                GpxPoint(
                    lat=float(cur["lat"]),  # type: ignore[arg-type]
                    lng=float(cur["lng"]),  # type: ignore[arg-type]
                    t_s=float(t_s) if isinstance(t_s, float) else None,
                    name=str(cur.get("name", "")),
                    line=int(cur["line"]),  # type: ignore[call-overload]
                )
            )
            self.current = None

    def chars(self, data: str) -> None:
        self.text.append(data)


def parse_gpx_points(text: str, source: str = "<gpx>") -> GpxDocument:
    """Parse GPX text; raises TrackError("file:line", ...) on anything unreadable."""
    parser = expat.ParserCreate(namespace_separator=" ")
    builder = _Builder(source, parser)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.chars
    try:
        parser.Parse(text, True)
    except expat.ExpatError as e:
        raise TrackError(f"{source}:{e.lineno}", f"not well-formed XML: {e}") from None
    found = builder.found
    points = found["trkpt"] or found["rtept"] or (found["wpt"] if len(found["wpt"]) >= 2 else [])
    if not points:
        raise TrackError(source, "no track points (<trkpt>), route points (<rtept>) or waypoints")
    return GpxDocument(points=points, waypoints=found["wpt"], name=builder.track_name)
