"""orders.csv: one row per ended order, the stage times in seconds, empty when not gone through."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from sample_reports import failed_report

from driver_agent.metrics.stats_snapshot import OrderRecord
from driver_agent.report.document import write_report
from driver_agent.report.orders_csv import COLUMNS, render_orders_csv

if TYPE_CHECKING:
    from pathlib import Path


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_header_names_every_column_with_its_unit() -> None:
    assert COLUMNS == (
        "order_id", "external_id", "driver_id", "outcome", "assign_to_start_s",
        "start_to_pickup_s", "pickup_dwell_s", "pickup_to_dropoff_s", "dropoff_dwell_s",
        "on_foot_s", "end_to_end_s", "last_error",
    )  # fmt: skip
    assert render_orders_csv([]) == ",".join(COLUMNS) + "\n"


def test_write_report_writes_one_row_per_ended_order_next_to_report_json(tmp_path: Path) -> None:
    write_report(failed_report(), tmp_path)
    rows = _rows((tmp_path / "orders.csv").read_text(encoding="utf-8"))
    assert [(r["order_id"], r["outcome"], r["driver_id"]) for r in rows] == [
        ("9", "failed", "d-2"), ("10", "completed", "d-1"), ("11", "failed", "d-3"),
    ]  # fmt: skip
    first, second, third = rows
    assert (first["external_id"], first["assign_to_start_s"], first["start_to_pickup_s"]) == (
        "da-42-x-00009", "6", "200.5",
    )  # fmt: skip
    assert first["pickup_dwell_s"] == ""  # the order never got there
    assert first["last_error"] == "checkin 400 Task already started Bearer [secure]"
    assert (second["end_to_end_s"], second["last_error"]) == ("900.25", "")
    assert third["last_error"] == "checkout no answer: ReadTimeout"


def test_text_with_commas_quotes_and_newlines_survives_the_round_trip() -> None:
    message = 'bad "value", see\nline two'
    order = OrderRecord(
        1, "d,1", "failed", {"on_foot": 12.3456}, 0,
        error_endpoint="checkin", error_status=400, error_message=message,
    )  # fmt: skip
    (row,) = _rows(render_orders_csv([order]))
    assert (row["driver_id"], row["on_foot_s"]) == ("d,1", "12.346")
    assert row["last_error"] == f"checkin 400 {message}"
