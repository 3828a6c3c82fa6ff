"""The walk's durable state: a JSON round trip keeps it, a damaged one names the dotted key."""

from __future__ import annotations

import dataclasses

import pytest

from driver_agent.bridge.state import (
    OrderFence,
    StopFence,
    StopState,
    WalkerState,
    WalkState,
)
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Order, Stop, StopKind
from driver_agent.core.typed import convert, to_builtins

ORDER = Order(
    42,
    Stop(StopKind.PICKUP, 60.17, 24.94, way_point_id=1, address="Kamppi"),
    Stop(StopKind.DROPOFF, 60.16, 24.95),
    external_id="ext-42",
    extras={"not": "kept"},
)


def test_a_state_survives_a_json_round_trip() -> None:
    state = WalkerState(
        finished=3,
        queues={"drv-1": [42]},
        walks=[
            WalkState(
                dataclasses.replace(ORDER, extras={}),
                "drv-1",
                started=True,
                geofence=OrderFence(StopFence(StopState.CHECKED_IN, 1_000), last_t_ms=2_000),
            )
        ],
    )
    again = convert(to_builtins(state), WalkerState)
    assert again == state
    order = again.walks[0].order
    assert (order, order.extras) == (ORDER, {})
    assert again.walks[0].geofence.dropoff == StopFence()


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"walks": [{"driver_id": "d"}]}, "walker.walks[0].order"),
        ({"queues": {"drv-1": ["forty-two"]}}, "walker.queues[...][0]"),
        ({"walks": [], "finshed": 1}, "walker.finshed"),
    ],
)
def test_a_damaged_state_names_the_dotted_key(raw: object, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        convert(raw, WalkerState, where="walker")
    assert str(info.value).startswith(f"{where}: ")
