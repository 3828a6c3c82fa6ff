"""Where the webhook receiver listens, which merchant keys it accepts, and its paths (pure).

Checked when built: a bad value is a ConfigError naming its `[webhooks]` key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from driver_agent.core.errors import ConfigError
from driver_agent.fleetapi.webhook_payloads import WebhookKind

if TYPE_CHECKING:
    from driver_agent.core.config import WebhookConfig
    from driver_agent.core.model import Secret

DEFAULT_PATHS: Mapping[WebhookKind, str] = {kind: f"/webhooks/{kind.value}" for kind in WebhookKind}
BRINGG_REPLY_LIMIT_S = 30.0


@dataclass(frozen=True)
class WebhookSettings:
    """Where the receiver listens, which merchant keys it accepts, and its paths."""

    host: str = "127.0.0.1"
    port: int = 8701
    api_keys: tuple[Secret, ...] = ()
    paths: Mapping[WebhookKind, str] = field(default_factory=lambda: dict(DEFAULT_PATHS))
    busy_timeout_s: float = 5.0
    max_body_bytes: int = 1_048_576

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("webhooks.port", f"{self.port} is not a TCP port")
        if not 0 < self.busy_timeout_s < BRINGG_REPLY_LIMIT_S:
            raise ConfigError(
                "webhooks.busy_timeout_s", f"{self.busy_timeout_s} must be in (0, 30) seconds"
            )
        if self.max_body_bytes <= 0:
            raise ConfigError("webhooks.max_body_bytes", f"{self.max_body_bytes} must be > 0")
        seen: dict[str, WebhookKind] = {}
        for kind in WebhookKind:
            path = self.path(kind)
            where = f"webhooks.{kind.value}_path"
            if not path.startswith("/"):
                raise ConfigError(where, f"{path!r} must start with '/'")
            if path in seen:
                raise ConfigError(where, f"{path!r} is also the {seen[path].value} path")
            seen[path] = kind

    def path(self, kind: WebhookKind) -> str:
        return self.paths.get(kind, DEFAULT_PATHS[kind])

    @classmethod
    def from_config(cls, config: WebhookConfig) -> WebhookSettings:
        """Settings from the `[webhooks]` config section (one merchant key)."""
        keys = (config.api_key,) if config.api_key else ()
        paths = {kind: str(getattr(config, f"{kind.value}_path")) for kind in WebhookKind}
        return cls(host=config.host, port=config.port, api_keys=keys, paths=paths)
