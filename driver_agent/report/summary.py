"""The plain-text summary table printed at the end of a run (pure): the run's real and simulated
time, totals with the overall request rate, errors by status and message, failed orders, outages,
the worst ping gap, one row per endpoint and the threshold verdicts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from driver_agent.core.model import MAX_PING_GAP_S
from driver_agent.report.failures import (
    endpoint_errors_line,
    failed_orders,
    last_error,
    stage_reached,
)
from driver_agent.report.fmt import fmt_actual, fmt_num, fmt_pct
from driver_agent.report.run import worst_ping_gap
from driver_agent.report.workers import worker_lines

if TYPE_CHECKING:
    from driver_agent.report.run import RunReport

MAX_FAILED_SHOWN = 5  # failed orders in the terminal summary; report.json and .html list more


def render_summary(report: RunReport) -> str:
    """The plain-text table printed at the end of a run."""
    t, outage = report.summary, report.summary.resilience
    rate = report.requests_per_s
    lines = [
        f"driver-agent run: mode {report.mode}, seed {report.seed_text}, {time_text(report)}",
        f"orders   {t.orders.completed}/{t.orders_total} done, {t.orders.cancelled} cancelled, "
        f"{t.orders.failed} failed; drivers {t.drivers}; relocations {t.relocations}",
        f"requests {t.totals.calls:,} ({fmt_num(rate)}/s real), "
        f"errors {t.totals.errors:,} ({fmt_pct(t.error_rate)})",
    ]
    lines += _error_lines(report)
    if outage.retries or outage.queued_calls or outage.given_up or outage.reconciled:
        lines.append(
            f"outages  retries {outage.retries:,} ({outage.reconciled:,} reconciled); "
            f"queued {outage.queued_calls:,} calls, {outage.queued_locations:,} locations "
            f"({outage.thinned_locations:,} thinned); given up {outage.given_up:,} "
            f"({outage.cancelled_after_give_up:,} cancelled)"
        )
    for given_up in outage.given_up_orders:
        status = "no answer" if given_up.status is None else given_up.status
        lines.append(
            f"given up order {given_up.task_id} ({given_up.driver_id}): "
            f"{given_up.endpoint} -> {status}: {given_up.message} [{given_up.reason}]"
        )
    worst, over, driver = worst_ping_gap(report.stats)
    if not report.stats.totals.pings:
        lines.append("ping gap -  (no location updates were sent)")
    elif worst is None:
        lines.append("ping gap -")
    else:
        lines.append(
            f"ping gap worst {fmt_num(worst)} s ({driver}), {over} gap(s) over {MAX_PING_GAP_S:g} s"
        )
    lateness = report.stats.ping_lateness_ms
    if lateness.count:
        lines.append(
            f"ping lateness after the scheduled tick: p50 {fmt_num(lateness.p50)} ms, "
            f"p99 {fmt_num(lateness.p99)} ms, max {fmt_num(lateness.max)} ms"
        )
    lines += worker_lines(report.workers)
    lines.append("")
    lines += _endpoint_rows(report)
    lines += _threshold_lines(report)
    return "\n".join(lines) + "\n"


def time_text(report: RunReport) -> str:
    """`51 s real, 3,091 s simulated at 60x`: both clocks, labelled."""
    return (
        f"{fmt_num(report.duration_s)} s real, {fmt_num(report.simulated_duration_s)} s "
        f"simulated at {report.speed:g}x"
    )


def _error_lines(report: RunReport) -> list[str]:
    """Each endpoint's errors by status and message, then the first failed orders."""
    lines = [
        f"errors   {endpoint_errors_line(ep)}"
        for ep in sorted(report.stats.endpoints, key=lambda ep: -ep.error_count)
        if ep.error_count
    ]
    failed = failed_orders(report.orders)
    for order in failed[:MAX_FAILED_SHOWN]:
        error = last_error(order)
        lines.append(
            f"failed   order {order.order_id} ({order.driver_id}) "
            f"{stage_reached(order.stages_s)}" + (f": {error}" if error else "")
        )
    if len(failed) > MAX_FAILED_SHOWN:
        lines.append(f"failed   ... {len(failed) - MAX_FAILED_SHOWN:,} more in report.json")
    return lines


def _endpoint_rows(report: RunReport) -> list[str]:
    header = ("endpoint", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms")
    rows = [
        (
            ep.endpoint,
            f"{ep.count:,}",
            f"{ep.error_count:,}",
            *(fmt_num(v) for v in (lat.p50, lat.p95, lat.p99, lat.max)),
        )
        for ep in sorted(report.stats.endpoints, key=lambda ep: ep.endpoint)
        for lat in [ep.latency_ms]
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _threshold_lines(report: RunReport) -> list[str]:
    if not report.thresholds:
        return []
    lines = ["", "thresholds"]
    width = max(len(r.expr) for r in report.thresholds)
    for r in report.thresholds:
        actual = "no data" if r.actual is None else fmt_actual(r.actual)
        verdict = "PASS" if r.passed else "FAIL"
        lines.append(f"  {verdict}  {r.expr.ljust(width)}  actual {actual}")
    failed = sum(not r.passed for r in report.thresholds)
    lines.append(
        f"  {failed} of {len(report.thresholds)} threshold(s) failed"
        if failed
        else f"  all {len(report.thresholds)} threshold(s) passed"
    )
    return lines
