"""The sandbox's world: every order, driver and customer, id allocation, the webhook outbox (pure).

Handlers answer with a `Reply` or raise a `Violation` (the sandbox's own error vocabulary: HTTP
status, message, optional `rc`), which the rules render as the documented error body.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from driver_agent.sandbox.records import Driver, Order
from driver_agent.sandbox.settings import SandboxSettings

_ASCII_ID = re.compile(r"[0-9]{1,19}")

JsonDict = dict[str, object]


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: HTTP status and JSON body; `retry_after_s` adds a Retry-After header;
    `items`, when set, is sent instead of `body` (a bare JSON array: Open Orders)."""

    status: int
    body: JsonDict
    retry_after_s: float | None = None
    items: list[object] | None = None


class Violation(Exception):
    """A refused request: rendered as `{"success": false, "message": ..., ["rc": ...]}`."""

    def __init__(
        self, status: int, message: str, *, rc: int | None = None, body: JsonDict | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.rc = rc
        self.body = body

    def reply(self) -> Reply:
        if self.body is not None:
            return Reply(self.status, self.body)
        body: JsonDict = {"success": False, "message": self.message}
        if self.rc is not None:
            body["rc"] = self.rc
        return Reply(self.status, body)


def missing(field_name: str) -> Violation:
    """400 in Bringg's words for a missing mandatory parameter."""
    return Violation(400, f"param is missing or the value is empty: {field_name}")


class WebhookKind(StrEnum):
    CREATED = "delivery_created"
    UPDATED = "delivery_updated"
    CANCELLED = "delivery_cancelled"


@dataclass(frozen=True, slots=True)
class WebhookJob:
    """One webhook the sandbox owes the fleet."""

    kind: WebhookKind
    task_id: int
    payload: JsonDict


@dataclass
class World:
    settings: SandboxSettings
    orders: dict[int, Order] = field(default_factory=dict)
    by_external_id: dict[str, int] = field(default_factory=dict)
    drivers: dict[int, Driver] = field(default_factory=dict)
    drivers_by_external_id: dict[str, int] = field(default_factory=dict)
    customers: dict[int, JsonDict] = field(default_factory=dict)
    outbox: deque[WebhookJob] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.settings.seed)
        base = self.rng.randrange(1_000_000, 9_000_000)
        self._next_task_id = base
        self._next_way_point_id = base * 2
        self._next_user_id = self.rng.randrange(100_000, 900_000)
        self._next_customer_id = self.rng.randrange(1_000_000, 9_000_000)
        self._next_note_id = self.rng.randrange(10_000_000, 90_000_000)
        self._next_inventory_id = self.rng.randrange(10_000_000, 90_000_000)
        for customer_id in self.settings.known_customer_ids:
            self.customers[customer_id] = {"id": customer_id, "name": f"Customer {customer_id}"}

    def task_id(self) -> int:
        self._next_task_id += 1
        return self._next_task_id

    def way_point_id(self) -> int:
        self._next_way_point_id += 1
        return self._next_way_point_id

    def user_id(self) -> int:
        self._next_user_id += 1
        return self._next_user_id

    def customer_id(self) -> int:
        self._next_customer_id += 1
        return self._next_customer_id

    def note_id(self) -> int:
        self._next_note_id += 1
        return self._next_note_id

    def inventory_id(self) -> int:
        self._next_inventory_id += 1
        return self._next_inventory_id

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def order(self, task_id: object) -> Order:
        """The order for a request's `task_id`; 400 when absent or not an int, 403 when unknown."""
        if task_id is None:
            raise missing("task_id")
        if isinstance(task_id, bool) or not isinstance(task_id, int):
            # ASCII digits only ("²".isdigit() is true), and few enough for int()
            if isinstance(task_id, str) and _ASCII_ID.fullmatch(task_id):
                task_id = int(task_id)
            else:
                raise Violation(400, "task_id must be an integer")
        found = self.orders.get(task_id)
        if found is None:
            raise Violation(403, "Task not found")
        return found

    def add_order(self, order: Order) -> None:
        self.orders[order.id] = order
        if order.external_id:
            self.by_external_id[order.external_id] = order.id


def refused(message: str) -> Violation:
    """A well-formed call the order's state does not allow: HTTP 200, success false, rc 1."""
    return Violation(200, message, rc=1)
