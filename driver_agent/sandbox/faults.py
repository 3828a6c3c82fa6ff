"""Faults the sandbox can be told to inject: error answers, outages, slow answers (pure).

`{"status": 503, "count": 5}` answers the next 5 API requests with 503; `{"status": 503,
"duration_s": 120}` is an outage for 120 s of sandbox time; `{"status": 429, "count": 2,
"retry_after_s": 1}` throttles; `{"delay_s": 0.5, "count": 3}` slows answers down; `"paths": [...]`
limits a fault to those paths (and is the only way to reach /oauth/token or /_sandbox/);
`{"clear": true}` ends all faults.

`{"lose_answer": true, "count": 2}` (status 503 unless given) is the case a resend must
reconcile: the fleet call is APPLIED, then its answer is replaced by the error, as when a gateway
times out after the API did the work. It takes effect only on a call that succeeded (a refused
call applied nothing) and only on fleet calls and Create Order (`paths` narrows it further).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from driver_agent.sandbox.requests import decode
from driver_agent.sandbox.world import JsonDict, Violation


@dataclass(slots=True)
class Fault:
    status: int | None
    count: int | None
    until_s: float | None
    delay_s: float
    retry_after_s: float | None
    paths: frozenset[str] | None
    lose_answer: bool = False

    def view(self, now_s: float) -> JsonDict:
        return {
            "lose_answer": self.lose_answer,
            "status": self.status,
            "count": self.count,
            "remaining_s": None if self.until_s is None else max(self.until_s - now_s, 0.0),
            "delay_s": self.delay_s,
            "retry_after_s": self.retry_after_s,
            "paths": None if self.paths is None else sorted(self.paths),
        }


class FaultBody(msgspec.Struct, frozen=True):
    """A `POST /_sandbox/faults` body; unknown keys are ignored, as everywhere in the sandbox."""

    clear: bool = False
    status: int | None = None
    lose_answer: bool = False
    count: float | None = None
    duration_s: float | None = None
    delay_s: float | None = None
    retry_after_s: float | None = None
    paths: list[str] | None = None


def _at_least(key: str, value: float | None, minimum: float) -> float | None:
    if value is not None and not value >= minimum:
        raise Violation(400, f"{key} must be a number >= {minimum:g}")
    return value


class FaultBook:
    """The active faults, first added first applied."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def __bool__(self) -> bool:
        return bool(self._faults)

    def add(self, body: JsonDict, now_s: float) -> Fault | None:
        """Add the fault a `POST /_sandbox/faults` body describes; None for `{"clear": true}`."""
        asked = decode(body, FaultBody)
        if asked.clear:
            self._faults.clear()
            return None
        status = asked.status
        if status is not None and not 400 <= status <= 599:
            raise Violation(400, "status must be an HTTP error status (400-599)")
        lose_answer = asked.lose_answer
        if lose_answer and status is None:
            status = 503
        count = _at_least("count", asked.count, 1)
        duration_s = _at_least("duration_s", asked.duration_s, 0)
        delay_s = _at_least("delay_s", asked.delay_s, 0) or 0.0
        retry_after_s = _at_least("retry_after_s", asked.retry_after_s, 0)
        if status is None and not delay_s:
            raise Violation(400, "a fault needs a status or a delay_s (or clear: true)")
        if count is None and duration_s is None:
            raise Violation(400, "a fault needs count or duration_s")
        paths = asked.paths
        fault = Fault(
            status=status,
            count=None if count is None else int(count),
            until_s=None if duration_s is None else now_s + duration_s,
            delay_s=delay_s,
            retry_after_s=retry_after_s,
            paths=None if paths is None else frozenset(paths),
            lose_answer=lose_answer,
        )
        self._faults.append(fault)
        return fault

    def take(self, path: str, now_s: float, *, api: bool) -> Fault | None:
        """The fault for this request, if any (using up one of its count)."""
        return self._take(path, now_s, api=api, lose_answer=False)

    def take_lost(self, path: str, now_s: float) -> Fault | None:
        """The `lose_answer` fault for a fleet call that was just applied, if any."""
        return self._take(path, now_s, api=True, lose_answer=True)

    def _take(self, path: str, now_s: float, *, api: bool, lose_answer: bool) -> Fault | None:
        for fault in list(self._faults):
            if fault.until_s is not None and now_s >= fault.until_s:
                self._faults.remove(fault)
                continue
            if fault.lose_answer is not lose_answer:
                continue
            if fault.paths is not None:
                if path not in fault.paths:
                    continue
            elif not api:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def view(self, now_s: float) -> list[JsonDict]:
        return [f.view(now_s) for f in self._faults if f.until_s is None or now_s < f.until_s]
