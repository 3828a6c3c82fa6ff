"""The checks settings go through (pure): the URL policy, value ranges and the `[api]` section.

Every check raises `ConfigError` naming the dotted key and the value. Config runs them when it
loads a file; the fleet client and the HTTP pool run the same ones on the `ApiConfig` they are
given, so a config built in code meets the same rules with the same words.

URL policy: http(s) with a host; no credentials (they go in headers) and no query string; plain
http only to a loopback host (127.0.0.0/8, ::1, localhost) unless `api.allow_insecure_http`.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from driver_agent.core.endpoints import ENDPOINTS
from driver_agent.core.errors import ConfigError

if TYPE_CHECKING:
    from driver_agent.core.config import ApiConfig

TRANSPORTS = ("builtin", "aiohttp", "httpx")  # the values of api.transport


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost` (names under `.localhost` too)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_url(url: str, where: str, *, allow_insecure_http: bool) -> str:
    """`url` if the URL policy allows it, else ConfigError naming the config key `where`."""
    if not url:
        raise ConfigError(where, "a URL is required")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise ConfigError(where, f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(where, f"{url!r} is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None or parts.query:
        raise ConfigError(where, "credentials and query strings do not belong in the URL")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(host):
        raise ConfigError(
            where,
            f"plain http is refused except to loopback ({url!r}); use https, "
            "or set api.allow_insecure_http = true",
        )
    return url


def check_api(api: ApiConfig, *, remote: bool = False) -> None:
    """The `[api]` settings; `remote` (the fleet client): `api.api_url` is required, otherwise
    an empty one means the embedded sandbox."""
    if api.api_url or remote:
        insecure = api.allow_insecure_http
        check_url(api.api_url, "api.api_url", allow_insecure_http=insecure)
        if api.token_url:
            check_url(api.token_url, "api.token_url", allow_insecure_http=insecure)
        if not api.client_id:
            raise ConfigError("api.client_id", "required when api.api_url is set")
        if not api.client_secret:
            raise ConfigError(
                "api.client_secret",
                "required when api.api_url is set (set DRIVER_AGENT_CLIENT_SECRET)",
            )
    for name, path in api.paths.items():
        if name not in ENDPOINTS:
            raise ConfigError(f"api.paths.{name}", "unknown endpoint")
        if not path.startswith("/"):
            raise ConfigError(f"api.paths.{name}", f"must start with '/', got {path!r}")
    check_pool(api)
    non_negative("api.max_retries", api.max_retries)
    non_negative("api.backoff_base_s", api.backoff_base_s)
    if api.backoff_base_s > api.backoff_cap_s:
        raise ConfigError("api.backoff_base_s", "must be >= 0 and <= api.backoff_cap_s")
    positive("api.give_up_after_s", api.give_up_after_s)


def check_pool(api: ApiConfig) -> None:
    """The `[api]` settings the HTTP pool is built from."""
    positive("api.timeout_s", api.timeout_s)
    positive("api.max_in_flight", api.max_in_flight)
    one_of("api.transport", api.transport, TRANSPORTS)
    positive("api.max_response_bytes", api.max_response_bytes)
    positive("api.keepalive_expiry_s", api.keepalive_expiry_s)


def positive(where: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(where, f"must be > 0, got {value!r}")


def non_negative(where: str, value: float) -> None:
    if value < 0:
        raise ConfigError(where, f"must be >= 0, got {value!r}")


def ratio(where: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(where, f"must be between 0 and 1, got {value!r}")


def one_of(where: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(where, f"must be one of {', '.join(allowed)}; got {value!r}")


def port(where: str, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ConfigError(where, f"must be a port number 0-65535, got {value!r}")
