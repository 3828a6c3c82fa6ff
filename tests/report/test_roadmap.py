"""Tests for driver_agent.report.roadmap: the streets the maps draw from the road graph."""

from __future__ import annotations

from itertools import pairwise

import pytest

from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.report.roadmap import road_lines, road_lines_near


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return RoadNetwork.load()


def test_every_road_stretch_is_a_polyline_on_the_graph(network: RoadNetwork) -> None:
    lines = road_lines(network)
    assert len(lines) == len(network.edges)
    for line, edge in zip(lines[:50], network.edges[:50], strict=True):
        assert len(line) >= 2
        length = sum(haversine_m(*a, *b) for a, b in pairwise(line))
        assert length == pytest.approx(edge.length_m, rel=0.02, abs=1.0)


def test_only_the_streets_around_the_run_are_kept(network: RoadNetwork) -> None:
    depot = network.depots[0]
    near = road_lines_near(network, [(depot.lat, depot.lng)], margin_m=200.0)
    everything = road_lines(network)
    assert 0 < len(near) < len(everything) / 4
    for line in near:  # each kept stretch reaches into the box around the depot
        assert any(haversine_m(depot.lat, depot.lng, *p) < 200.0 * 1.5 + 1.0 for p in line)
    assert road_lines_near(network, [], margin_m=200.0) == []
    assert road_lines_near(None, [(depot.lat, depot.lng)]) == []
