"""Tests for driver_agent.geo.places: address points on the roads, for the sandbox."""

from __future__ import annotations

import pytest

from driver_agent.geo.places import address_places
from driver_agent.geo.roads import RoadNetwork


def test_places_lie_on_the_roads_inside_their_area() -> None:
    network = RoadNetwork.load()
    area, places = address_places(network, count=500, seed=3)
    assert len(places) == 500
    assert len(set(places)) > 490
    for lat, lng in places:
        assert area[0] <= lat <= area[2]
        assert area[1] <= lng <= area[3]
        snapped = network.snap(lat, lng)
        assert snapped is not None
        assert abs(snapped[0] - lat) < 1e-6
        assert abs(snapped[1] - lng) < 1e-6
    assert address_places(network, count=500, seed=3) == (area, places)
    assert address_places(network, count=500, seed=4)[1] != places
    with pytest.raises(ValueError, match="count must be >= 1"):
        address_places(network, count=0)
