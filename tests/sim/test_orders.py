"""Tests for driver_agent.sim.orders: the merchant side's seeded order payloads."""

from __future__ import annotations

import random
import statistics

from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sim.orders import door_off_the_road, order_id_prefix, plan_orders


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
