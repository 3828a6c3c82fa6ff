"""sandbox.fleet_checks: the stop a fleet call names, and refusals by the order's state."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_pure import PureSandbox

from driver_agent.sandbox.fleet_checks import refuse_finished, requested_stop
from driver_agent.sandbox.world import Violation


@pytest.mark.parametrize(
    ("body", "stop"),
    [
        ({}, None),
        ({"pickup_dropoff_option": "pickup"}, 1),
        ({"pickup_dropoff_option": "dropoff", "way_point_position": 1}, 2),  # the option wins
        ({"pickup_dropoff_option": "both"}, None),
        ({"way_point_position": 2}, 2),
    ],
)
def test_the_named_stop_comes_from_either_documented_field(
    body: dict[str, Any], stop: int | None
) -> None:
    assert requested_stop(body) == stop


@pytest.mark.parametrize(
    "body",
    [{"pickup_dropoff_option": "middle"}, {"way_point_position": True}, {"way_point_position": 3}],
)
def test_a_stop_that_is_neither_is_a_400(body: dict[str, Any]) -> None:
    with pytest.raises(Violation) as caught:
        requested_stop(body)
    assert caught.value.status == 400


def test_a_finished_order_is_refused_with_http_200_and_rc_1() -> None:
    pure = PureSandbox()
    task_id = pure.assigned()
    pure.call("cancel_delivery", task_id=task_id, reason_id=1)
    with pytest.raises(Violation) as caught:
        refuse_finished(pure.state.world.orders[task_id], "checkin")
    assert caught.value.reply().body == {
        "success": False,
        "message": "Can not checkin of a cancelled task",
        "rc": 1,
    }
