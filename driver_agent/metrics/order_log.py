"""One row per order that ended, with the last error its calls got (pure, bounded).

`error()` notes a failed call of an order (kept until the order ends; the latest wins);
`ended()` turns the order into an `OrderRecord` carrying that error. Errors are noted only on the
error path, so the calls' hot path costs nothing here. Memory is bounded: at most `max_rows`
rows are kept (later ones are counted in `dropped`) and at most `max_open` orders with an error
wait for their end (the oldest is forgotten first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from driver_agent.metrics.stats_snapshot import OrderRecord

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_ORDER_ROWS = 500_000
MAX_OPEN_ERRORS = 100_000

_Error = tuple[str, int | None, str]  # endpoint, status (None: no answer), message


class OrderLog:
    def __init__(self, max_rows: int = MAX_ORDER_ROWS, max_open: int = MAX_OPEN_ERRORS) -> None:
        if max_rows < 0 or max_open < 1:
            raise ValueError(
                f"order log: max_rows >= 0 and max_open >= 1, got {max_rows}, {max_open}"
            )
        self._max_rows = max_rows
        self._max_open = max_open
        self._open: dict[int, _Error] = {}
        self.rows: list[OrderRecord] = []
        self.dropped = 0

    def error(self, order_id: int, endpoint: str, status: int | None, message: str) -> None:
        """A call of order `order_id` failed (the latest error of an order wins)."""
        errors = self._open
        errors.pop(order_id, None)
        errors[order_id] = (endpoint, status, message)
        if len(errors) > self._max_open:
            del errors[next(iter(errors))]

    def ended(
        self,
        order_id: int,
        driver_id: str,
        outcome: str,
        stages_s: Mapping[str, float],
        ended_at_ms: int,
        external_id: str = "",
    ) -> None:
        """The order ended: its row, with the last error noted for it."""
        endpoint, status, message = self._open.pop(order_id, ("", None, ""))
        if len(self.rows) >= self._max_rows:
            self.dropped += 1
            return
        self.rows.append(
            OrderRecord(
                order_id=order_id,
                driver_id=driver_id,
                outcome=outcome,
                stages_s=dict(stages_s),
                ended_at_ms=ended_at_ms,
                external_id=external_id,
                error_endpoint=endpoint,
                error_status=status,
                error_message=message,
            )
        )
