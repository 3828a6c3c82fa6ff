"""Tests for driver_agent.sim.orders: the merchant side's seeded order payloads."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.tracks import Track, load_track
from driver_agent.sim.orders import door_off_the_road, order_id_prefix, plan_orders
from driver_agent.sim.routebook import RecordedRoute

DATA = Path(__file__).resolve().parent.parent / "data"


def test_doors_stand_off_the_road_mostly_close_some_far() -> None:
    rng = random.Random(5)
    distances = [
        haversine_m(60.17, 24.94, *door_off_the_road(60.17, 24.94, rng)) for _ in range(2000)
    ]
    assert min(distances) >= 4.99
    assert max(distances) <= 400.01
    assert 0.65 < sum(d <= 40.0 for d in distances) / len(distances) < 0.75
    assert 0.02 < sum(d > 150.0 for d in distances) / len(distances) < 0.08
    assert 15.0 < statistics.median(distances) < 40.0


def test_orders_repeat_for_a_seed_and_start_at_the_depots() -> None:
    network = RoadNetwork.load()
    a = plan_orders(network, 30, random.Random(2), manhattan_share=0.25, now_s=1.7e9, id_prefix="x")
    b = plan_orders(network, 30, random.Random(2), manhattan_share=0.25, now_s=1.7e9, id_prefix="x")
    assert a == b
    assert [r.external_id for r in a[:2]] == ["x-00001", "x-00002"]
    assert {r.kind for r in a} == {"create_task", "manhattan"}
    depots = {(d.lat, d.lng) for d in network.depots}
    for request in a:
        if request.kind != "create_task":
            continue
        pickup, dropoff = request.body["way_points"]  # type: ignore[misc]
        assert (pickup["lat"], pickup["lng"]) in depots
        snapped = network.snap(dropoff["lat"], dropoff["lng"])
        assert snapped is None or haversine_m(dropoff["lat"], dropoff["lng"], *snapped) <= 400.5
    assert order_id_prefix(3, "run1") == "da-3-run1"


def test_with_routes_orders_take_them_in_turn_from_first_to_last_point() -> None:
    network = RoadNetwork.load()
    far = RecordedRoute.of(
        Track.from_latlngs([(47.17, 9.51), (47.15, 9.52)], name="Schaan to Vaduz")
    )
    trace = RecordedRoute.of(load_track(DATA / "noisy-gappy.gpx"))
    requests = plan_orders(
        network,
        5,
        random.Random(2),
        manhattan_share=1.0,  # a Manhattan request has no coordinates: routes make Create Orders
        now_s=1.7e9,
        routes=(trace, far),
    )
    assert [r.kind for r in requests] == ["create_task"] * 5
    for i, request in enumerate(requests):
        route = (trace, far)[i % 2]
        pickup, dropoff = request.body["way_points"]  # type: ignore[misc]
        assert (pickup["lat"], pickup["lng"]) == route.pickup
        assert (dropoff["lat"], dropoff["lng"]) == route.dropoff
        assert pickup["address"] == route.name
    assert requests[1].body["way_points"][0]["address"] == "Schaan to Vaduz"  # type: ignore[index]
