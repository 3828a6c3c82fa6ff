"""Failures as a person acts on them (pure): how far a failed order got, its last error, and each
endpoint's errors by HTTP status and by Bringg's message, as text lines, report.json rows and the
report's HTML table.

Every message passes `core.redaction.redact_text` again here, whatever masked it before.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from driver_agent.core.redaction import redact_text
from driver_agent.report.run import iso

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from driver_agent.metrics.stats_snapshot import EndpointSnapshot, OrderRecord

MAX_FAILED_LISTED = 1_000  # failed orders in report.json and report.html; all are counted
FAILED_OUTCOME = "failed"
# the furthest stage an order's stage durations show, furthest first (`lifecycle.Stage` values)
_REACHED = (
    ("dropoff_dwell", "left the dropoff"),
    ("pickup_to_dropoff", "checked in at the dropoff"),
    ("pickup_dwell", "left the pickup"),
    ("start_to_pickup", "checked in at the pickup"),
    ("assign_to_start", "started"),
)
BEFORE_START = "before start"


def stage_reached(stages_s: Mapping[str, float]) -> str:
    """How far an order got, from the stages it went through."""
    return next((label for stage, label in _REACHED if stage in stages_s), BEFORE_START)


def error_text(status: int | None, message: str) -> str:
    """`403 User not found`; `no answer: ReadTimeout` when the network failed."""
    head = "no answer" if status is None else str(status)
    message = redact_text(message)
    return f"{head}: {message}" if status is None and message else f"{head} {message}".rstrip()


def last_error(order: OrderRecord) -> str:
    """The order's last error as one line (`checkin 400 Task already started`), or ""."""
    if not order.has_error:
        return ""
    return f"{order.error_endpoint} {error_text(order.error_status, order.error_message)}"


def failed_orders(orders: Sequence[OrderRecord]) -> list[OrderRecord]:
    return [order for order in orders if order.outcome == FAILED_OUTCOME]


def failed_order_rows(orders: Sequence[OrderRecord]) -> list[dict[str, Any]]:
    """report.json's `failed_orders`: the first `MAX_FAILED_LISTED` failed orders, each with how
    far it got, its last error and when it failed (simulated time, ISO 8601 UTC)."""
    return [
        {
            "order_id": order.order_id,
            "external_id": order.external_id,
            "driver_id": order.driver_id,
            "stage_reached": stage_reached(order.stages_s),
            "error_endpoint": order.error_endpoint or None,
            "error_status": order.error_status,
            "error_message": redact_text(order.error_message) if order.has_error else None,
            "simulated_failed_at": iso(order.ended_at_ms),
        }
        for order in failed_orders(orders)[:MAX_FAILED_LISTED]
    ]


def endpoint_errors_line(endpoint: EndpointSnapshot) -> str:
    """One line of an endpoint's errors: by status, then the top messages with their counts
    (`checkin 4 errors: 403 (3), 400 (1); "User not found" (3), "Task already started" (1)`)."""
    by_status = ", ".join(f"{status} ({n:,})" for status, n in _ranked(endpoint.errors_by_status))
    messages = ", ".join(
        f'"{redact_text(m.message)}" ({m.count:,})' for m in endpoint.top_messages if m.message
    )
    if not by_status:  # a report written before statuses were kept: the error classes
        by_status = ", ".join(f"{name} ({n:,})" for name, n in _ranked(endpoint.errors))
    detail = "; ".join(part for part in (by_status, messages) if part)
    count = endpoint.error_count
    return f"{endpoint.endpoint} {count:,} error{'' if count == 1 else 's'}: {detail}"


def _ranked(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0]))


# ----------------------------------------------------------------------------- HTML


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def errors_html(endpoint: EndpointSnapshot) -> str:
    """The endpoint table's error detail: statuses, then the top messages with counts."""
    statuses = " · ".join(f"{_e(k)} ×{n:,}" for k, n in _ranked(endpoint.errors_by_status))
    if not statuses:
        statuses = " · ".join(f"{_e(k)} {n:,}" for k, n in _ranked(endpoint.errors))
    items = "".join(
        f'<li><span class="count">{m.count:,}</span> {_e(redact_text(m.message))}</li>'
        for m in endpoint.top_messages
        if m.message
    )
    parts = f'<div class="small">{statuses}</div>' if statuses else ""
    return parts + (f'<ol class="messages small">{items}</ol>' if items else "")


def failed_orders_html(orders: Sequence[OrderRecord], dropped: int = 0) -> str:
    """The failed-orders table: order, driver, stage reached, last error, simulated time."""
    failed = failed_orders(orders)
    if not failed:
        note = " (of the orders kept)" if dropped else ""
        return f'<p class="muted">No order failed{note}.</p>'
    rows = "".join(
        f"<tr><td><code>{order.order_id}</code>"
        + (f'<div class="small">{_e(order.external_id)}</div>' if order.external_id else "")
        + f"</td><td><code>{_e(order.driver_id)}</code></td>"
        f"<td>{_e(stage_reached(order.stages_s))}</td>"
        f'<td class="error">{_e(last_error(order)) or "-"}</td>'
        f"<td>{_e(iso(order.ended_at_ms) or '-')}</td></tr>"
        for order in failed[:MAX_FAILED_LISTED]
    )
    more = len(failed) - MAX_FAILED_LISTED
    note = (
        f'<p class="muted">The first {MAX_FAILED_LISTED:,} of {len(failed):,} failed orders.</p>'
        if more > 0
        else ""
    )
    return (
        f'{note}<table class="failed-orders"><thead><tr><th>order</th><th>driver</th>'
        "<th>stage reached</th><th>last error</th><th>failed at (simulated, UTC)</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )
