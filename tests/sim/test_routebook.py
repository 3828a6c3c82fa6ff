"""Tests for driver_agent.sim.routebook: route files and directories in, recorded legs out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from driver_agent.core.errors import ConfigError, TrackError
from driver_agent.geo.geometry import destination, haversine_m
from driver_agent.geo.tracks import Track, load_track, straight_track
from driver_agent.sim.routebook import (
    JOIN_SPEED_MPS,
    RecordedRoute,
    RouteBook,
    drive_on_to,
    load_routes,
    route_paths,
)

DATA = Path(__file__).resolve().parent.parent / "data"
TRACE = DATA / "noisy-gappy.gpx"


def test_a_directory_stands_for_its_gpx_and_geojson_files_sorted(tmp_path: Path) -> None:
    shutil.copy(TRACE, tmp_path / "b.gpx")
    shutil.copy(DATA / "bridge" / "delivery.gpx", tmp_path / "a.GPX")
    (tmp_path / "c.geojson").write_text(
        '{"type": "LineString", "coordinates": [[24.94, 60.17], [24.95, 60.171]]}'
    )
    (tmp_path / "notes.txt").write_text("not a route")
    (tmp_path / "sub.gpx").mkdir()
    assert [p.name for p in route_paths([str(tmp_path)])] == ["a.GPX", "b.gpx", "c.geojson"]
    book = load_routes([str(TRACE), str(tmp_path)])
    names = [r.name for r in book.routes]
    assert names == ["noisy trace with gaps", "delivery", "noisy trace with gaps", "c"]
    assert len(book) == 4
    assert not load_routes([])


def test_a_directory_without_routes_and_a_bad_file_are_one_line_naming_them(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as empty:
        load_routes([str(tmp_path)])
    assert str(empty.value) == f"{tmp_path}: a directory of routes without .gpx or .geojson files"
    bad = tmp_path / "bad.gpx"
    bad.write_text('<gpx version="1.1">\n<trk><trkseg>\n<trkpt lat="95" lon="24.9"/>\n</gpx>\n')
    with pytest.raises(TrackError) as caught:
        load_routes([str(TRACE), str(bad)])
    assert str(caught.value).startswith(f"{bad}:3: ")
    with pytest.raises(TrackError, match="cannot read"):
        load_routes([str(tmp_path / "missing.geojson")])


def test_a_route_has_its_ends_as_pickup_and_dropoff() -> None:
    track = load_track(TRACE)
    route = RecordedRoute.of(track)
    assert haversine_m(*route.pickup, *track.start) < 0.01
    assert haversine_m(*route.dropoff, *track.end) < 0.01
    assert route.name == "noisy trace with gaps"
    unnamed = RecordedRoute.of(Track.from_latlngs([(60.0, 24.0), (60.01, 24.0)], source="x/y.gpx"))
    assert unnamed.name == "y"


def test_the_drive_from_a_parked_van_pulls_out_onto_the_recording() -> None:
    route = RecordedRoute.of(load_track(TRACE))
    van = destination(*route.pickup, 270.0, 12.0)
    track = route.drive_from(*van)
    assert haversine_m(*track.start, *van) < 0.01
    assert list(track.line.coords)[1:] == list(route.track.line.coords)
    assert route.track.times_s is not None
    assert track.times_s is not None
    assert track.times_s[0] == pytest.approx(route.track.times_s[0] - 12.0 / JOIN_SPEED_MPS)
    assert route.drive_from(*route.pickup) is route.track


def test_the_drive_to_a_pickup_off_the_roads_goes_on_to_it() -> None:
    road = straight_track(60.17, 24.94, 60.171, 24.94)
    pickup = destination(60.171, 24.94, 90.0, 200.0)
    track = drive_on_to(road, *pickup)
    assert haversine_m(*track.end, *pickup) < 0.01
    assert track.road_classes == ("straight", "service")
    assert track.length_m == pytest.approx(road.length_m + 200.0, abs=0.5)
    assert drive_on_to(road, *road.end) is road


def test_a_dropoff_matches_the_route_whose_pickup_the_driver_stands_at() -> None:
    one = RecordedRoute.of(Track.from_latlngs([(60.17, 24.94), (60.16, 24.95)]))
    two = RecordedRoute.of(Track.from_latlngs([(60.18, 24.93), (60.16, 24.95)]))  # same end
    book = RouteBook((one, two))
    near_two = destination(*two.pickup, 0.0, 20.0)
    assert book.match(*near_two, *two.dropoff, within_m=50.0) is two
    assert book.match(*one.pickup, *one.dropoff, within_m=50.0) is one
    assert book.match(*destination(*one.pickup, 0.0, 60.0), *one.dropoff, within_m=50.0) is None
    assert book.match(*one.pickup, *destination(*one.dropoff, 0, 5.0), within_m=50.0) is None
    assert book.is_pickup(*two.pickup)
    assert not book.is_pickup(*two.dropoff)
