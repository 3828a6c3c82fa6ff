"""Configuration: TOML file + environment + flags into frozen dataclasses.

Errors name the dotted key and the bad value. Secrets come from the environment or the file only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from driver_agent.model import Secret

FLEET_ENDPOINTS = (
    "assign_driver",
    "start_task",
    "update_driver_location",
    "checkin",
    "create_note",
    "checkout",
    "end_task",
    "cancel_delivery",
    "update_task",
    "cluster_check_in",
    "cluster_check_out",
)


@dataclass(frozen=True)
class ApiConfig:
    """Where and how the fleet API client talks to Bringg (`[api]` in the config file)."""

    api_url: str = ""
    token_url: str = ""  # default: <api_url>/oauth/token
    client_id: str = ""
    client_secret: Secret = field(default_factory=lambda: Secret(""))
    paths: dict[str, str] = field(default_factory=dict)  # endpoint name -> path override
    timeout_s: float = 10.0
    max_in_flight: int = 64
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    token_refresh_margin_s: float = 60.0
    allow_insecure_http: bool = False

    def resolved_token_url(self) -> str:
        return self.token_url or self.api_url.rstrip("/") + "/oauth/token"

    def path(self, endpoint: str) -> str:
        return self.paths.get(endpoint, f"/open_fleet_services/{endpoint}")
