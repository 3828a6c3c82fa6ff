"""When a fleet call may be sent again, and which refusals of a resent call mean success (pure).

Two kinds of endpoint (the `resend` column of `core.endpoints.ENDPOINTS`):

- **free**: `update_driver_location` (the same `reported_time` twice is the same fix) and
  `update_task` (it sets values: the same ETA twice is one ETA). Resent after any
  `ApiUnavailable`, outcome known or not.
- **reconciled**: the calls that move an order (`assign_driver`, `start_task`, `checkin`,
  `checkout`, `end_task`, `cancel_delivery`, `cluster_check_in`, `cluster_check_out`) and
  `create_note`. They are resent too, but once an attempt's outcome is unknown (the answer was
  lost, or a 5xx came back: a gateway may answer 502/504 after the API applied the call), the
  first attempt may have been applied. A resend that the API then refuses with "already in that
  state" is the proof it was: the call counts as done, as a *reconciled* retry, never as a second
  transition. `create_note` carries a client-made `external_id` (`note_external_id`), the key by
  which the note is found again instead of added twice.

The phrases are Bringg's refusal wording as far as it is known (the python SDK handles "Can not
checkin of a done task"; the rest is the sandbox's documented wording, sandbox/fleet.py), matched
case-insensitively as substrings. A refusal that does not name the target state is a refusal.

The merchant's Create Order lives outside this client (fleetapi/merchant.py): it reconciles the
same way on its natural key, the order's `external_id` ("Task with external id X exists already"
after an unknown outcome means the order exists).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from driver_agent.core.endpoints import ENDPOINTS, Resend
from driver_agent.core.model import StopKind, TaskStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

CallKey = tuple[object, ...]  # names one order-changing call across resends

# the body fields that name which order, which stop and which note a call is about
_KEY_FIELDS = ("task_id", "task_ids", "pickup_dropoff_option", "way_point_position", "external_id")

# refusals that say the order is already where the call would have put it
ALREADY: dict[str, tuple[str, ...]] = {
    "assign_driver": ("already assigned to this driver",),
    "start_task": ("already started",),
    "checkin": ("already checked in",),
    "checkout": ("already checked out",),
    "end_task": ("can not end of a done task", "already done", "already ended"),
    "cancel_delivery": ("already cancelled", "can not cancel of a cancelled task"),
    "cluster_check_in": ("already checked in",),
    "cluster_check_out": ("already checked out",),
}

# the order's status a reconciled call reports: what the refusal said it already is
RECONCILED_STATUS: dict[str, TaskStatus] = {
    "assign_driver": TaskStatus.ASSIGNED,
    "start_task": TaskStatus.ON_THE_WAY,
    "checkin": TaskStatus.CHECKED_IN,
    "checkout": TaskStatus.ON_THE_WAY,
    "end_task": TaskStatus.DONE,
    "cancel_delivery": TaskStatus.CANCELLED,
}


def resend_policy(endpoint: str) -> Resend:
    """How `endpoint` may be resent (its row in `core.endpoints`); unknown endpoints are treated
    as order-changing."""
    spec = ENDPOINTS.get(endpoint)
    return spec.resend if spec is not None else Resend.RECONCILED


def call_key(endpoint: str, body: Mapping[str, object]) -> CallKey | None:
    """The key by which a resend of this call is recognised: the endpoint and the body's order,
    stop and note (`task_id` or `task_ids`, `pickup_dropoff_option`, `way_point_position`, the
    note's `external_id`). None for endpoints that are resent freely (nothing to reconcile).
    The same body, built now or read back from JSON later, gives the same key."""
    if resend_policy(endpoint) is not Resend.RECONCILED:
        return None
    return (endpoint, *(_hashable(body.get(name)) for name in _KEY_FIELDS))


def _hashable(value: object) -> object:
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, list | tuple):
        return tuple(_hashable(item) for item in value)
    return repr(value)


def may_have_applied(status: int | None, outcome_unknown: bool) -> bool:
    """Whether a failed attempt (its HTTP status, or None) may have been applied by the API."""
    return outcome_unknown or (status is not None and status >= 500)


def is_already_done(endpoint: str, message: str) -> bool:
    """True when `message`, a refusal of `endpoint`, says the order is already in its target
    state."""
    lowered = message.lower()
    return any(phrase in lowered for phrase in ALREADY.get(endpoint, ()))


def reconciled_status(endpoint: str, kind: StopKind | None) -> TaskStatus:
    """The status a reconciled call reports (checkout of the dropoff leaves it checked in)."""
    if endpoint == "checkout" and kind is StopKind.DROPOFF:
        return TaskStatus.CHECKED_IN
    return RECONCILED_STATUS.get(endpoint, TaskStatus.ON_THE_WAY)


def note_external_id(
    task_id: int, kind: StopKind | None, reported_time_ms: int | None, fields: Mapping[str, object]
) -> str:
    """A note's idempotency key: the same note (task, stop, time, content) gives the same key,
    so a resend after a lost answer is recognised instead of added twice."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{task_id}|{kind}|{reported_time_ms}".encode())
    for key in sorted(fields):
        digest.update(f"|{key}={fields[key]}".encode())
    return f"da-note-{digest.hexdigest()}"
