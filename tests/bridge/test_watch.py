"""The watchdog's bookkeeping, on plain clock seconds: quiet busy drivers, resends, drop counts."""

from __future__ import annotations

from driver_agent.bridge.watch import DropIncrement, DropTally, QuietWatch, Silence


def test_a_busy_driver_quiet_past_the_gap_is_reported_once_and_heard_again_clears_it() -> None:
    watch = QuietWatch(max_gap_s=30.0)
    watch.heard("drv-1", 0.0)
    assert watch.check(["drv-1", "drv-2"], 10.0) == []  # drv-2 never heard: counts from now
    assert watch.check(["drv-1", "drv-2"], 31.0) == [Silence("drv-1", 31.0)]
    assert watch.check(["drv-1", "drv-2"], 32.0) == []  # still quiet: not reported again
    assert watch.check(["drv-1", "drv-2"], 41.0) == [Silence("drv-2", 31.0)]
    watch.heard("drv-1", 42.0)
    assert watch.check(["drv-1", "drv-2"], 43.0) == []
    assert watch.quiet == {"drv-2"}
    assert watch.check(["drv-1"], 44.0) == []  # drv-2 is no longer busy
    assert watch.quiet == set()


def test_a_quiet_driver_is_due_for_a_resend_every_four_fifths_of_the_gap() -> None:
    watch = QuietWatch(max_gap_s=30.0)
    watch.heard("drv-1", 0.0)
    watch.check(["drv-1"], 31.0)
    assert watch.due_for_resend(31.0) == ["drv-1"]
    watch.resent("drv-1", 31.0)
    assert watch.due_for_resend(54.9) == []
    assert watch.due_for_resend(55.0) == ["drv-1"]


def test_drop_counts_become_increments_and_the_earlier_runs_counts_come_once_marked() -> None:
    tally = DropTally()
    assert tally.update({"expired": 3}) == [DropIncrement("expired", 3, earlier=True)]
    assert tally.update({"expired": 3, "overflow": 2}) == [  # new in this run: logged
        DropIncrement("overflow", 2, earlier=False)
    ]
    assert tally.update({"expired": 5, "overflow": 2}) == [
        DropIncrement("expired", 2, earlier=False)
    ]
