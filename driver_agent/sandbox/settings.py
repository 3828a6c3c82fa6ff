"""The sandbox's settings: credentials, the area it covers, limits and webhook behaviour (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from driver_agent.core.model import TOKEN_TTL_S, Secret

DEFAULT_AREA = (
    60.160,
    24.900,
    60.200,
    24.980,
)  # central Helsinki: min_lat, min_lng, max_lat, max_lng
MAX_NOTE_BYTES = 10 * 1024 * 1024


def _secret(value: str) -> Secret:
    return Secret(value)


@dataclass(frozen=True)
class SandboxSettings:
    """Everything the embedded Bringg emulator needs; the defaults are well-known local values.

    `known_customer_ids` are customers the sandbox pretends already exist (the seed-001 example
    refers to customer 45678). `start_s` pins sandbox time at start (epoch seconds) instead of the
    wall clock; `strict_complete` refuses end_task (and the developer API's End Order) before the
    driver checked in at the dropoff. `seed` also derives the developer API's per-service URLs
    (`devapi_routes.service_paths`).
    """

    client_id: str = "sandbox-fleet"
    client_secret: Secret = field(default_factory=lambda: _secret("sandbox-fleet-secret"))
    merchant_client_id: str = "sandbox-merchant"
    merchant_client_secret: Secret = field(
        default_factory=lambda: _secret("sandbox-merchant-secret")
    )
    merchant_api_key: Secret = field(default_factory=lambda: _secret("sandbox-merchant-api-key"))
    fleet_webhook_url: str = ""
    token_ttl_s: int = TOKEN_TTL_S
    area: tuple[float, float, float, float] = DEFAULT_AREA
    # points on the active road network: every address geocodes to one of them (see geocode.py)
    places: tuple[tuple[float, float], ...] = ()
    rate_limit_per_window: int = 100_000
    rate_window_s: float = 60.0
    webhook_retry_delay_s: float = 60.0
    webhook_timeout_s: float = 30.0
    webhook_retries: int = 3
    max_note_bytes: int = MAX_NOTE_BYTES
    seed: int = 1
    known_customer_ids: frozenset[int] = frozenset({45678})
    start_s: float | None = None
    strict_complete: bool = True

    def __post_init__(self) -> None:
        min_lat, min_lng, max_lat, max_lng = self.area
        if not (-90 <= min_lat < max_lat <= 90 and -180 <= min_lng < max_lng <= 180):
            raise ValueError(
                f"area: expected (min_lat, min_lng, max_lat, max_lng), got {self.area}"
            )
        for lat, lng in self.places:
            if not (min_lat <= lat <= max_lat and min_lng <= lng <= max_lng):
                raise ValueError(f"places: ({lat}, {lng}) lies outside the area {self.area}")
        if self.token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be > 0")
        if self.rate_limit_per_window <= 0 or self.rate_window_s <= 0:
            raise ValueError("rate_limit_per_window and rate_window_s must be > 0")
        if self.webhook_retry_delay_s < 0 or self.webhook_timeout_s <= 0:
            raise ValueError("webhook_retry_delay_s must be >= 0 and webhook_timeout_s > 0")
