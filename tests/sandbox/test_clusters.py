"""sandbox.clusters: cluster check-in/out move several assigned orders past their pickups."""

from __future__ import annotations

from typing import Any

from sandbox_pure import PureSandbox


def test_cluster_check_in_and_out_move_assigned_orders_past_pickup() -> None:
    pure = PureSandbox()
    a, b = pure.assigned(external_id="a"), pure.assigned(external_id="b")
    state = pure.state
    checked_in = pure.call("cluster_check_in", task_ids=[a, b], lat=60.0, lng=24.0)
    wp_ids = [state.world.orders[t].pickup.id for t in (a, b)]
    assert checked_in.body == {"success": True, "way_points_checked_in": wp_ids}
    assert state.world.orders[a].pickup.checkin_lat == 60.0
    checked_out = pure.call("cluster_check_out", task_ids=[a, b])
    assert checked_out.body == {"success": True, "way_points_checked_out": wp_ids}
    again = pure.call("cluster_check_out", task_ids=[a])
    assert again.body["success"] is False
    start = pure.call("start_task", task_id=a)
    task: dict[str, Any] = start.body["task"]  # type: ignore[assignment]
    assert task["active_way_point_id"] == state.world.orders[a].dropoff.id


def test_a_cluster_with_an_unassigned_or_finished_order_changes_nothing() -> None:
    pure = PureSandbox()
    assigned, loose = pure.assigned(external_id="a"), pure.create(external_id="b")
    refused = pure.call("cluster_check_in", task_ids=[assigned, loose])
    assert refused.body == {
        "success": False,
        "message": f"Assign a driver before cluster check-in (task {loose})",
        "rc": 1,
    }
    assert pure.state.world.orders[assigned].pickup.checkin_time is None
    pure.call("cancel_delivery", task_id=assigned, reason_id=1)
    done = pure.call("cluster_check_in", task_ids=[assigned])
    assert done.body["message"] == f"Can not cluster check of a cancelled task ({assigned})"
