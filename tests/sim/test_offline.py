"""The driver's backlog while the API is away (pure): order, thinning, bound, back-off, give-up."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver_agent.sim.offline import (
    CANCEL_AFTER_REFUSAL,
    Backlog,
    BackoffPolicy,
    Entry,
    EntryKind,
    entry_kind,
)


def location(at: float, task_id: int | None = 7) -> Entry[str]:
    return Entry("update_driver_location", task_id, at, EntryKind.LOCATION, f"loc@{at:g}")


def call(endpoint: str, at: float, task_id: int = 7) -> Entry[str]:
    return Entry(endpoint, task_id, at, entry_kind(endpoint), f"{endpoint}@{at:g}")


def backlog(**kwargs: float) -> Backlog[str]:
    return Backlog(now_real=0.0, give_up_after_s=kwargs.pop("give_up_after_s", 600.0), **kwargs)  # type: ignore[arg-type]


def test_queued_locations_keep_one_per_30_s_plus_the_latest() -> None:
    b = backlog()
    for t in range(0, 121, 10):
        b.add(location(float(t)))
    assert [e.at for e in b.entries] == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert b.thinned == 8
    b.add(location(125.0))
    assert [e.at for e in b.entries][-2:] == [120.0, 125.0]  # the latest is always there


def test_an_uneven_ping_interval_never_leaves_a_gap_over_30_s() -> None:
    b = backlog()
    for t in range(0, 200, 7):
        b.add(location(float(t)))
    times = [e.at for e in b.entries]
    assert times[0] == 0.0
    assert times[-1] == 196.0
    assert max(b - a for a, b in itertools.pairwise(times)) <= 30.0
    assert len(times) < 200 // 7 // 3  # thinned to about one per 30 s


def test_lifecycle_calls_are_never_thinned_and_split_runs_of_locations() -> None:
    b = backlog()
    b.add(location(0.0))
    b.add(location(10.0))
    b.add(call("checkin", 12.0))
    b.add(location(20.0))
    b.add(location(30.0))
    b.add(call("create_note", 31.0))
    b.add(call("checkout", 40.0))
    assert [e.payload for e in b.entries] == [
        "loc@0", "loc@10", "checkin@12", "loc@20", "loc@30", "create_note@31", "checkout@40",
    ]  # fmt: skip


def test_the_head_being_resent_is_never_replaced() -> None:
    b = backlog()
    b.add(location(0.0))
    b.add(location(5.0))
    b.sent(1.0)  # loc@0 went; loc@5 is the head now
    b.add(location(10.0))
    assert [e.payload for e in b.entries] == ["loc@5", "loc@10"]


def test_past_the_bound_the_oldest_location_goes_never_a_call() -> None:
    b = Backlog[str](now_real=0.0, give_up_after_s=600.0, max_locations=4)
    b.add(call("start_task", 0.0))
    for t in range(0, 600, 60):  # an idle driver: 60 s apart, none thinned
        b.add(location(float(t), None))
    assert b.locations == 4
    assert b.dropped_locations == 6
    assert b.entries[0].payload == "start_task@0"
    assert [e.at for e in b.entries[1:]] == [360.0, 420.0, 480.0, 540.0]


def test_back_off_continues_the_clients_curve_capped_and_never_under_retry_after() -> None:
    policy = BackoffPolicy(base_s=0.5, cap_s=30.0, client_retries=4)
    waits = [policy.wait_s(n, jitter=0.999) for n in range(6)]
    assert waits[0] == pytest.approx(8.0, rel=0.01)  # 0.5 * 2**4
    assert waits == sorted(waits)
    assert max(waits) <= 30.0
    assert all(policy.wait_s(n, jitter=0.0) >= policy.wait_s(n, jitter=0.999) / 2 for n in range(6))
    assert policy.wait_s(1, jitter=0.0, server_wait_s=45.0) == 45.0
    assert BackoffPolicy(base_s=0.0, cap_s=0.0).wait_s(3, 0.5) > 0.0  # never a tight loop


def test_failed_resends_count_on_the_head_and_grow_the_wait() -> None:
    b = backlog()
    b.add(call("checkin", 0.0))
    first = b.failed(jitter=0.5)
    second = b.failed(jitter=0.5)
    assert second > first
    head = b.head()
    assert head is not None
    assert head.sends == 3
    b.sent(50.0)
    assert b.failures == 0


def test_an_order_is_overdue_only_after_give_up_after_s_without_progress() -> None:
    b = backlog(give_up_after_s=600.0)
    b.add(call("checkin", 0.0))
    b.add(call("checkout", 1.0))
    assert not b.overdue(599.0)
    b.sent(500.0)  # progress
    assert not b.overdue(1000.0)
    assert b.overdue(1100.0)


def test_giving_up_an_order_drops_its_calls_and_keeps_the_positions() -> None:
    b = backlog()
    b.add(call("checkin", 0.0, task_id=1))
    b.add(location(5.0, 1))
    b.add(call("create_note", 6.0, task_id=1))
    b.add(Entry("cancel_delivery", 2, 7.0, EntryKind.CLEANUP, "cancel@7"))
    assert b.orders() == [1]
    assert b.holds(1)
    assert not b.holds(2)  # a cleanup does not hold an order's end
    removed = b.drop_order(1)
    assert [e.payload for e in removed] == ["checkin@0", "create_note@6"]
    assert [e.payload for e in b.entries] == ["loc@5", "cancel@7"]
    assert b.has_calls()
    assert [e.payload for e in b.drop_cleanups()] == ["cancel@7"]
    assert not b.has_calls()
    assert b.drop_locations() == 1
    assert not b


def test_cancel_follows_refusals_of_calls_that_move_an_order_the_driver_holds() -> None:
    assert "assign_driver" not in CANCEL_AFTER_REFUSAL  # the order may be someone else's
    assert "cancel_delivery" not in CANCEL_AFTER_REFUSAL
    assert {"start_task", "checkin", "checkout", "end_task"} <= CANCEL_AFTER_REFUSAL


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [
        ("update_driver_location", EntryKind.LOCATION),
        ("create_note", EntryKind.EXTRA),
        ("update_task", EntryKind.EXTRA),
        ("checkin", EntryKind.LIFECYCLE),
        ("end_task", EntryKind.LIFECYCLE),
    ],
)
def test_entry_kinds_by_endpoint(endpoint: str, kind: EntryKind) -> None:
    assert entry_kind(endpoint) is kind


@pytest.mark.parametrize("bad", [{"give_up_after_s": 0.0}, {"max_locations": 1}])
def test_bad_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        Backlog[str](now_real=0.0, **{"give_up_after_s": 600.0, **bad})  # type: ignore[arg-type]


# ---- properties -------------------------------------------------------------------------------

LIFECYCLE = ("assign_driver", "start_task", "checkin", "checkout", "end_task", "create_note")
operations = st.lists(
    st.one_of(
        st.tuples(st.just("location"), st.floats(min_value=0.5, max_value=30.0)),
        st.tuples(st.just("call"), st.sampled_from(LIFECYCLE)),
        st.tuples(st.just("sent"), st.just(None)),
        st.tuples(st.just("failed"), st.floats(min_value=0.0, max_value=0.999)),
    ),
    max_size=120,
)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(operations, st.integers(min_value=2, max_value=8))
def test_any_sequence_of_outcomes_never_loses_or_reorders_a_call_and_keeps_the_bound(
    ops: list[tuple[str, object]], max_locations: int
) -> None:
    b = Backlog[str](now_real=0.0, give_up_after_s=600.0, max_locations=max_locations)
    t = 0.0
    added_calls: list[str] = []
    gone: list[Entry[str]] = []
    for op, arg in ops:
        if op == "location":
            assert isinstance(arg, float)
            t += arg
            b.add(location(t))
        elif op == "call":
            t += 0.25
            entry = call(str(arg), t)
            added_calls.append(entry.payload)
            b.add(entry)
        elif op == "sent" and b:
            gone.append(b.sent(t))
        elif op == "failed" and b:
            assert isinstance(arg, float)
            assert b.failed(arg) > 0.0
        assert b.locations <= max_locations
        assert b.locations == sum(e.kind is EntryKind.LOCATION for e in b.entries)
    seen = [e.payload for e in (*gone, *b.entries) if e.kind is not EntryKind.LOCATION]
    assert seen == added_calls  # none lost, none reordered
    times = [e.at for e in (*gone, *b.entries)]
    assert times == sorted(times)  # everything leaves in the order it was made


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.floats(min_value=0.5, max_value=30.0), min_size=1, max_size=200))
def test_with_pings_at_most_30_s_apart_the_kept_ones_are_at_most_30_s_apart(
    intervals: list[float],
) -> None:
    b = Backlog[str](now_real=0.0, give_up_after_s=600.0, max_locations=10_000)
    t = 0.0
    for step in intervals:
        t += step
        b.add(location(t))
    times = [e.at for e in b.entries]
    assert times[-1] == t  # the latest is kept
    assert all(b - a <= 30.0 + 1e-9 for a, b in itertools.pairwise(times))
    assert len(times) <= 2 * (t - times[0]) / 30.0 + 2  # and thinned: about one per 30 s
