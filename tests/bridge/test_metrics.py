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
