"""Tests for landmarks in the road graph file: written, read back, optional (format 2 files and
files without them still load), and checked."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from road_grid import grid_network

from driver_agent.core.errors import ConfigError
from driver_agent.geo import roads
from driver_agent.geo.roadfile import GRAPH_FORMAT_V2, landmark_fields, read_graph
from driver_agent.geo.roads import RoadNetwork


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_bytes(gzip.compress(json.dumps(doc).encode(), mtime=0))
    return path


def test_landmarks_written_to_the_file_read_back_the_same(tmp_path: Path) -> None:
    network = grid_network()
    doc = network.to_json()
    plain = RoadNetwork.load(write(tmp_path / "plain.roads.json.gz", doc))
    marks = plain.router.compute_landmarks(6)
    path = write(tmp_path / "grid.roads.json.gz", {**doc, "landmarks": landmark_fields(marks)})
    data = read_graph(path)
    assert data.landmarks is not None
    assert data.landmarks.nodes == marks.nodes
    assert data.landmarks.scale == marks.scale
    assert data.landmarks.costs_sum == marks.costs_sum
    assert data.landmarks.to == marks.to
    assert data.landmarks.back == marks.back
    loaded = RoadNetwork.load(path)
    assert loaded.router.landmarks is not None
    assert len(loaded.router.landmarks.nodes) == 6  # from the file, not computed again (16)


def test_a_format_2_file_without_landmarks_still_loads_and_gets_them(tmp_path: Path) -> None:
    doc = {**grid_network().to_json(), "format": GRAPH_FORMAT_V2}
    network = RoadNetwork.load(write(tmp_path / "old.roads.json.gz", doc))
    assert network.router.landmarks is not None  # small: computed at load
    assert network.route(60.001, 25.001, 60.018, 25.03) is not None


def test_a_big_graph_without_landmarks_routes_with_plain_astar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roads, "LANDMARKS_AT_LOAD", 100)
    network = RoadNetwork.load(write(tmp_path / "big.roads.json.gz", grid_network().to_json()))
    assert network.router.landmarks is None
    assert network.route(60.001, 25.001, 60.018, 25.03) is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to": base64.b64encode(b"\0" * 8).decode()}, "landmarks: tables of 8"),
        ({"nodes": [0, 10**6]}, "landmarks: a landmark is not a junction"),
        ({"scale": 0.0}, "landmarks: scale must be positive"),
    ],
)
def test_bad_landmarks_are_an_error_naming_the_file_and_the_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    network = grid_network(6)
    doc = network.to_json()
    fields = landmark_fields(network.router.compute_landmarks(2))
    path = write(tmp_path / "bad.roads.json.gz", {**doc, "landmarks": {**fields, **change}})
    with pytest.raises(ConfigError) as caught:
        read_graph(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_landmarks_made_on_other_costs_are_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = grid_network()
    fields = landmark_fields(network.router.compute_landmarks(6))
    stale = {**fields, "costs_sum": fields["costs_sum"] * 0.9}  # as if cruise speeds changed
    path = write(tmp_path / "stale.roads.json.gz", {**network.to_json(), "landmarks": stale})
    monkeypatch.setattr(roads, "LANDMARKS_AT_LOAD", 100)
    assert RoadNetwork.load(path).router.landmarks is None  # big: plain A*, not stale bounds
    monkeypatch.setattr(roads, "LANDMARKS_AT_LOAD", 20_000)
    fresh = RoadNetwork.load(path).router.landmarks
    assert fresh is not None
    assert len(fresh.nodes) == 16  # small: computed again at load
