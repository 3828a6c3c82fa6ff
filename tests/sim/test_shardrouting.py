"""The head's router: orders to the shard of the nearest idle driver, else the least loaded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver_agent.core.model import Order, Stop, StopKind
from driver_agent.sim.shardrouting import ShardRouter


def order(task_id: int, lat: float = 60.17, lng: float = 24.94) -> Order:
    return Order(task_id, Stop(StopKind.PICKUP, lat, lng), Stop(StopKind.DROPOFF, lat + 0.01, lng))


def test_an_order_goes_to_the_shard_of_the_nearest_idle_driver() -> None:
    router = ShardRouter(2)
    router.idle(0, "drv-1", 60.20, 24.90)  # 3 km from the pickup
    router.idle(1, "drv-2", 60.171, 24.941)  # next to it
    assert router.route(order(1)) == 1
    assert router.route(order(2)) == 0  # drv-2 is taken out of the view: drv-1 is next
    assert router.idle_count == 0
    assert (router.holder(1), router.holder(2), router.holder(3)) == (1, 0, None)


def test_without_idle_drivers_the_least_loaded_live_shard_waits_for_one() -> None:
    router = ShardRouter(3)
    shards = [router.route(order(i)) for i in range(1, 7)]
    assert shards == [0, 1, 2, 0, 1, 2]
    router.ended(1, 2)
    assert router.route(order(7)) == 1
    assert router.in_hand(1) == 1


def test_a_repeated_delivery_created_goes_where_the_first_went() -> None:
    router = ShardRouter(2)
    router.idle(1, "drv-9", 60.17, 24.94)
    assert router.route(order(5)) == 1
    assert router.route(order(5)) == 1
    assert router.routed == [0, 1]


def test_a_driver_that_took_an_order_locally_leaves_the_view() -> None:
    router = ShardRouter(2)
    router.idle(0, "drv-1", 60.17, 24.94)
    router.busy("drv-1")
    router.busy("drv-unknown")  # harmless
    assert router.route(order(1)) == 0
    assert router.idle_count == 0


def test_a_dead_shard_gets_nothing_more_and_reports_what_it_held() -> None:
    router = ShardRouter(2)
    router.idle(0, "drv-1", 60.17, 24.94)
    router.idle(0, "drv-2", 60.30, 24.94)
    assert router.route(order(1)) == 0
    assert router.route(order(2)) == 0
    router.ended(0, 1)
    assert router.shard_died(0) == 1  # routed 2, one ended
    router.idle(0, "drv-3", 60.17, 24.94)  # a late summary of the dead shard is ignored
    assert router.route(order(3)) == 1
    assert router.shard_died(1) == 1
    assert router.route(order(4)) is None


def test_a_router_needs_a_shard() -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        ShardRouter(0)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("idle", "busy", "route", "ended", "died")),
            st.integers(0, 2),
            st.integers(0, 9),
            st.floats(59.9, 60.4),
        ),
        max_size=60,
    )
)
def test_every_routed_order_is_counted_once_on_a_live_shard(
    steps: list[tuple[str, int, int, float]],
) -> None:
    router = ShardRouter(3)
    routed: dict[int, int] = {}
    for i, (kind, shard, n, lat) in enumerate(steps):
        if kind == "idle":
            router.idle(shard, f"drv-{n}", lat, 24.9)
        elif kind == "busy":
            router.busy(f"drv-{n}")
        elif kind == "ended":
            router.ended(shard, min(router.routed[shard], n))
        elif kind == "died":
            router.shard_died(shard)
        else:
            got = router.route(order(1000 + i, lat))
            if got is None:
                assert router.dead == {0, 1, 2}
                continue
            assert got not in router.dead or got == routed.get(1000 + i)
            routed[1000 + i] = got
    assert sum(router.routed) == len(routed)
    for task_id, shard in routed.items():
        assert router.holder(task_id) == shard


def test_orders_found_in_a_restarted_shard_stay_there_and_a_shard_back_gets_orders_again() -> None:
    router = ShardRouter(2)
    router.place(7, 1)  # a restarted bridge: worker 2's file holds order 7
    router.place(7, 0)  # a later report cannot move it
    assert router.route(order(7)) == 1  # Bringg's retry of order 7 goes where it is
    assert router.in_hand(1) == 1
    router.idle(1, "drv-2", 60.17, 24.94)
    router.shard_died(1)
    assert router.idle_count == 0
    assert router.route(order(8)) == 0  # the only live shard
    router.idle(1, "drv-2", 60.17, 24.94)  # ignored: still dead
    assert router.idle_count == 0
    router.shard_back(1)
    router.idle(1, "drv-2", 60.17, 24.94)
    assert router.route(order(9)) == 1
