"""orders.csv (pure): one row per order that ended, with its stage times in simulated seconds.

Columns: order_id, external_id, driver_id, outcome, the stage times (`<stage>_s`, empty when
the order did not go through that stage) and last_error (`checkin 400 Task already started`, empty
without one). A reassigned order has a row for each driver it had. Written with the csv module
(RFC 4180 quoting), lines end in "\n" as requests.csv's do.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from driver_agent.report.failures import last_error

if TYPE_CHECKING:
    from collections.abc import Sequence

    from driver_agent.metrics.stats_snapshot import OrderRecord

ORDERS_CSV = "orders.csv"
STAGES = (  # `lifecycle.Stage` values, in the order an order goes through them
    "assign_to_start",
    "start_to_pickup",
    "pickup_dwell",
    "pickup_to_dropoff",
    "dropoff_dwell",
    "on_foot",
    "end_to_end",
)
COLUMNS = (
    "order_id",
    "external_id",
    "driver_id",
    "outcome",
    *(f"{stage}_s" for stage in STAGES),
    "last_error",
)


def render_orders_csv(orders: Sequence[OrderRecord]) -> str:
    """The CSV text: a header row, then one row per order in the order they ended."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for order in orders:
        stages = order.stages_s
        writer.writerow(
            (
                order.order_id,
                order.external_id,
                order.driver_id,
                order.outcome,
                *(_seconds(stages.get(stage)) for stage in STAGES),
                last_error(order),
            )
        )
    return out.getvalue()


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")
