"""The whole exception tree of driver-agent.

```
DriverAgentError            catch only in cli and at the per-driver boundary
├── ConfigError             .where: dotted key or "file:line"
│   └── TrackError          bad GPX/GeoJSON: file and line or feature index
├── ApiError                raised only by the client: .endpoint, .status
│   ├── ApiUnavailable      network error, timeout, 5xx, 429: the only retryable class
│   │   └── OutcomeUnknown  the request may have reached the API and been applied
│   ├── AuthError           401 still after one token refresh
│   ├── ForbiddenError      403: payload refused (e.g. unknown task_id)
│   └── RejectedError       other refusals, with the documented message
├── TransitionError         event not allowed in this lifecycle state
└── OutboxError             bridge persistence unreadable or unwritable
```
"""

from __future__ import annotations


class DriverAgentError(Exception):
    """Base of every error the program raises on purpose."""


class ConfigError(DriverAgentError):
    """Bad configuration or input; `where` is the dotted key or "file:line"."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class TrackError(ConfigError):
    """A GPX or GeoJSON file that cannot be read; `where` is "file:line" or "file:feature N"."""


class ApiError(DriverAgentError):
    """A fleet API call failed; raised only by the client."""

    def __init__(self, endpoint: str, status: int | None, message: str) -> None:
        where = f"{endpoint} -> {status}" if status is not None else endpoint
        super().__init__(f"{where}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.message = message


class ApiUnavailable(ApiError):
    """Network error, timeout, 5xx or 429: the only class the client retries."""

    def __init__(
        self, endpoint: str, status: int | None, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(endpoint, status, message)
        self.retry_after_s = retry_after_s


class OutcomeUnknown(ApiUnavailable):
    """The request may have reached the API and been applied: its answer was lost (the socket died
    after the request was written, a read timed out) or a 5xx came back for a call that changes
    an order. Resending is safe only with reconciliation (see `resend`)."""


class AuthError(ApiError):
    """401 still after one token refresh, or the token endpoint refused the credentials."""


class ForbiddenError(ApiError):
    """403: the API refused the payload (e.g. an unknown task_id). Never retried."""


class RejectedError(ApiError):
    """Any other refusal (4xx, or 200 with success false), carrying the server's message."""


class TransitionError(DriverAgentError):
    """An event that the lifecycle does not allow in its current state."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"event {event!r} is not allowed in state {state!r}")
        self.state = state
        self.event = event


class OutboxError(DriverAgentError):
    """The bridge's durable outbox cannot be read or written."""
