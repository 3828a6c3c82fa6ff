"""Prometheus text exposition of the bridge's counters and gauges."""

from __future__ import annotations

import pytest

from driver_agent.bridge.metrics import BridgeMetrics, Registry


def test_render_writes_help_type_and_sorted_labelled_samples() -> None:
    registry = Registry()
    counter = registry.counter("x_total", "Things.\nCounted \\ here.", ("source",))
    gauge = registry.gauge("depth", "Depth.")
    counter.inc("b")
    counter.inc("a", amount=2)
    counter.inc("b")
    gauge.set(2.5)
    assert registry.render() == (
        "# HELP x_total Things.\\nCounted \\\\ here.\n"
        "# TYPE x_total counter\n"
        'x_total{source="a"} 2\n'
        'x_total{source="b"} 2\n'
        "# HELP depth Depth.\n"
        "# TYPE depth gauge\n"
        "depth 2.5\n"
    )


def test_label_values_are_escaped() -> None:
    registry = Registry()
    registry.counter("e_total", "E.", ("class",)).inc('Bad"Thing\\\n')
    assert 'e_total{class="Bad\\"Thing\\\\\\n"} 1\n' in registry.render()


@pytest.mark.parametrize(
    ("value", "text"),
    [(float("inf"), "+Inf"), (float("-inf"), "-Inf"), (float("nan"), "NaN"), (3.0, "3")],
    ids=["inf", "neg-inf", "nan", "integral"],
)
def test_special_values_use_prometheus_spelling(value: float, text: str) -> None:
    registry = Registry()
    registry.gauge("g", "G.").set(value)
    assert registry.render().endswith(f"g {text}\n")


def test_gauge_function_is_read_at_render_time() -> None:
    registry = Registry()
    depth = [1]
    registry.gauge("depth", "D.").set_function(lambda: float(depth[0]))
    depth[0] = 7
    assert registry.render().endswith("depth 7\n")


@pytest.mark.parametrize(
    "misuse",
    [
        pytest.param(lambda r: r.counter("c", "C.").inc(amount=-1), id="counter-down"),
        pytest.param(lambda r: r.counter("c", "C.").set(1.0), id="set-counter"),
        pytest.param(lambda r: r.counter("c", "C.", ("a",)).inc(), id="missing-label"),
        pytest.param(lambda r: (r.gauge("g", "G."), r.gauge("g", "G.")), id="twice"),
        pytest.param(lambda r: r.gauge("g", "G.", ("a",)).set_function(float), id="fn-labels"),
    ],
)
def test_misuse_raises_value_error_naming_the_metric(misuse: object) -> None:
    with pytest.raises(ValueError, match=r"\bc\b|\bg\b"):
        misuse(Registry())  # type: ignore[operator]


def test_bridge_metrics_expose_every_documented_family() -> None:
    m = BridgeMetrics()
    m.position_in("traccar")
    m.position_rejected("osmand", "lat")
    m.update_sent(3)
    m.outbox_depth.set(4)
    m.outbox_oldest_age.set(12.5)
    m.checkin("dropoff")
    m.checkout("pickup")
    m.error("ApiUnavailable")
    m.drop("overflow", 2)
    text = m.render()
    for sample in [
        'driver_agent_bridge_positions_in_total{source="traccar"} 1',
        'driver_agent_bridge_positions_rejected_total{source="osmand",field="lat"} 1',
        "driver_agent_bridge_updates_sent_total 3",
        "driver_agent_bridge_outbox_depth 4",
        "driver_agent_bridge_outbox_oldest_unsent_age_seconds 12.5",
        'driver_agent_bridge_checkins_total{kind="dropoff"} 1',
        'driver_agent_bridge_checkouts_total{kind="pickup"} 1',
        'driver_agent_bridge_errors_total{class="ApiUnavailable"} 1',
        'driver_agent_bridge_dropped_total{reason="overflow"} 2',
        "driver_agent_bridge_positions_late_total 0",
    ]:
        assert sample + "\n" in text
    assert m.positions_in.value("traccar") == 1


def test_other_processes_samples_add_into_the_families_and_an_age_takes_the_oldest() -> None:
    head, worker_1, worker_2 = BridgeMetrics(), BridgeMetrics(), BridgeMetrics()
    head.position_in("osmand")
    head.position_in("osmand")
    worker_1.update_sent(3)
    worker_2.update_sent(4)
    worker_2.drop("max_age", 2)
    worker_1.outbox_oldest_age.set(12.5)
    worker_2.outbox_oldest_age.set(3.0)
    worker_1.outbox_depth.set_function(lambda: 5.0)
    worker_2.outbox_depth.set_function(lambda: 6.0)
    page = head.render([worker_1.snapshot(), worker_2.snapshot()])
    assert 'driver_agent_bridge_positions_in_total{source="osmand"} 2\n' in page
    assert "driver_agent_bridge_updates_sent_total 7\n" in page
    assert 'driver_agent_bridge_dropped_total{reason="max_age"} 2\n' in page
    assert "driver_agent_bridge_outbox_depth 11\n" in page
    assert "driver_agent_bridge_outbox_oldest_unsent_age_seconds 12.5\n" in page
    assert "driver_agent_bridge_updates_sent_total 0\n" in head.render()  # its own alone


def test_a_snapshot_is_plain_data_and_families_only_the_other_side_has_are_left_out() -> None:
    worker = Registry()
    worker.counter("only_here_total", "Only in the worker.").inc()
    shared = worker.counter("shared_total", "Both.", ("kind",))
    shared.inc("a")
    head = Registry()
    head.counter("shared_total", "Both.", ("kind",)).inc("b")
    snapshot = worker.snapshot()
    assert snapshot == {"only_here_total": [((), 1.0)], "shared_total": [(("a",), 1.0)]}
    page = head.render([snapshot])
    assert "only_here_total" not in page
    assert 'shared_total{kind="a"} 1\nshared_total{kind="b"} 1\n' in page
