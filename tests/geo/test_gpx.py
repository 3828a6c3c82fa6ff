"""Tests for driver_agent.geo.gpx: GPX points with line numbers, and errors that name file:line."""

from __future__ import annotations

import pytest

from driver_agent.core.errors import TrackError
from driver_agent.geo.gpx import parse_gpx_points, parse_time

NS = 'xmlns="http://www.topografix.com/GPX/1/1"'


def test_track_points_of_every_segment_come_in_document_order_with_times() -> None:
    doc = parse_gpx_points(
        f"""<?xml version="1.0"?>
<gpx version="1.1" {NS}>
  <wpt lat="60.1" lon="24.9"><name>Depot</name><time>2024-01-02T03:04:05Z</time></wpt>
  <trk><name>Morning run</name>
    <trkseg>
      <trkpt lat="60.10" lon="24.90"><time>2024-01-02T03:04:05Z</time></trkpt>
      <trkpt lat="60.11" lon="24.91"><time>2024-01-02T03:04:07.5Z</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="60.12" lon="24.92"><time>2024-01-02T05:04:09+02:00</time></trkpt>
    </trkseg>
  </trk>
</gpx>""",
        "run.gpx",
    )
    assert [(p.lat, p.lng) for p in doc.points] == [(60.10, 24.90), (60.11, 24.91), (60.12, 24.92)]
    t0 = 1_704_164_645.0
    assert [p.t_s for p in doc.points] == [t0, t0 + 2.5, t0 + 4.0]
    assert [p.line for p in doc.points] == [6, 7, 10]
    assert doc.name == "Morning run"
    assert [(w.name, w.lat, w.lng, w.t_s) for w in doc.waypoints] == [("Depot", 60.1, 24.9, t0)]


def test_route_points_are_the_path_when_there_is_no_track() -> None:
    doc = parse_gpx_points(
        '<gpx version="1.0"><rte><rtept lat="1" lon="2"/><rtept lat="3" lon="4"/></rte></gpx>'
    )
    assert [(p.lat, p.lng) for p in doc.points] == [(1.0, 2.0), (3.0, 4.0)]
    assert all(p.t_s is None for p in doc.points)


def test_waypoints_alone_make_a_path_when_there_are_two() -> None:
    doc = parse_gpx_points('<gpx><wpt lat="1" lon="2"/><wpt lat="3" lon="4"/></gpx>')
    assert len(doc.points) == 2
    assert len(doc.waypoints) == 2


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        pytest.param(
            '<gpx>\n<trk><trkseg>\n<trkpt lat="abc" lon="1"/></trkseg></trk></gpx>',
            "f.gpx:3",
            "<trkpt> #1: lat 'abc' is not a number",
            id="non-numeric-lat",
        ),
        pytest.param(
            '<gpx>\n<trkpt lat="1" lon="2"/>\n<trkpt lon="2"/></gpx>',
            "f.gpx:3",
            "<trkpt> #2: missing 'lat' attribute",
            id="missing-lat",
        ),
        pytest.param(
            '<gpx>\n\n<trkpt lat="95" lon="2"/></gpx>',
            "f.gpx:3",
            "lat 95.0 is outside ±90",
            id="lat-out-of-range",
        ),
        pytest.param(
            '<gpx>\n<trkpt lat="1" lon="2">\n<time>yesterday</time></trkpt></gpx>',
            "f.gpx:3",
            "time 'yesterday' is not ISO 8601",
            id="non-numeric-time",
        ),
        pytest.param(
            "<gpx>\n<trk>\n<trkseg></trk></gpx>",
            "f.gpx:3",
            "not well-formed XML",
            id="broken-xml",
        ),
        pytest.param("<kml>\n</kml>", "f.gpx:1", "root element is <kml>", id="not-gpx"),
        pytest.param("<gpx>\n</gpx>", "f.gpx", "no track points", id="no-points"),
        pytest.param('<gpx><wpt lat="1" lon="2"/></gpx>', "f.gpx", "no track points", id="one-wpt"),
    ],
)
def test_broken_gpx_fails_naming_file_and_line(text: str, where: str, message: str) -> None:
    with pytest.raises(TrackError) as info:
        parse_gpx_points(text, "f.gpx")
    assert info.value.where == where
    assert message in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:01:00Z", 60.0),
        ("1970-01-01T00:01:00.250Z", 60.25),
        ("1970-01-01T02:01:00+02:00", 60.0),
        ("1970-01-01T00:01:00", 60.0),
        ("not a time", None),
    ],
)
def test_parse_time_reads_iso_8601_as_utc_epoch_seconds(text: str, expected: float | None) -> None:
    assert parse_time(text) == expected
