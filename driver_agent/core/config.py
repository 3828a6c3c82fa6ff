"""Configuration: a TOML file, the environment and command-line flags into frozen structs.

Precedence, lowest first: defaults, the file, the environment (secrets only), flags. Every
error names the dotted key and the bad value; unknown keys are errors too (a typo must not be
silently ignored): the sections are msgspec Structs decoded by `core.typed.convert`. Secrets come
from the environment or the file, never from a flag, and are wrapped in `Secret` so they cannot
leak into a repr, a log line, an error or a report.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct, field

from driver_agent.core.config_errors import config_error
from driver_agent.core.endpoints import default_path
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Secret
from driver_agent.core.redaction import redact
from driver_agent.core.typed import convert
from driver_agent.core.validation import (
    check_api,
    check_url,
    is_loopback_host,
    non_negative,
    one_of,
    port,
    positive,
    ratio,
)

RUN_ID = re.compile(r"[A-Za-z0-9_-]{0,32}")

ENV_SECRETS = {
    "DRIVER_AGENT_CLIENT_SECRET": ("api", "client_secret"),
    "DRIVER_AGENT_WEBHOOK_API_KEY": ("webhooks", "api_key"),
    "DRIVER_AGENT_MERCHANT_CLIENT_SECRET": ("merchant", "client_secret"),
    "DRIVER_AGENT_BRIDGE_INPUT_KEY": ("bridge", "input_key"),
    "DRIVER_AGENT_OWN_FLEET_ACCESS_TOKEN": ("own_fleet", "access_token"),
    "DRIVER_AGENT_OWN_FLEET_SECRET_KEY": ("own_fleet", "secret_key"),
}


def _no_secret() -> Secret:
    return Secret("")


SECRET_KEYS = frozenset(f"{section}.{key}" for section, key in ENV_SECRETS.values())


class Section(Struct, frozen=True, forbid_unknown_fields=True):
    """A `[table]` of the config file: frozen, and a key it does not know is an error."""


class ApiConfig(Section, frozen=True):
    """Where and how the fleet API client talks to Bringg (`[api]`)."""

    api_url: str = ""  # empty: run against the embedded sandbox
    token_url: str = ""  # default: <api_url>/oauth/token
    client_id: str = ""
    client_secret: Secret = field(default_factory=_no_secret)
    paths: dict[str, str] = field(default_factory=dict)  # endpoint name -> path override
    timeout_s: float = 10.0
    max_in_flight: int = 64
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    token_refresh_margin_s: float = 60.0
    allow_insecure_http: bool = False
    ca_file: str = ""  # extra trusted CAs (PEM), e.g. for a sandbox behind a private CA
    transport: str = "builtin"  # "builtin" (fastest), "aiohttp" (httpx-aiohttp), "httpx"
    max_response_bytes: int = 1024 * 1024  # a longer answer body is an error, not buffered
    keepalive_expiry_s: float = 5.0  # idle keep-alive sockets older than this are closed
    give_up_after_s: float = 600.0  # an order waits this long (real s) for the API to come back
    profile: str = "fleet"  # "fleet" (seed 000's fleet API) or "own_fleet" (seed 001's [own_fleet])

    def resolved_token_url(self) -> str:
        return self.token_url or self.api_url.rstrip("/") + "/oauth/token"

    def path(self, endpoint: str) -> str:
        return self.paths.get(endpoint, default_path(endpoint))


class MerchantConfig(Section, frozen=True):
    """Optional merchant credentials, to create orders on a remote sandbox (`[merchant]`)."""

    client_id: str = ""
    client_secret: Secret = field(default_factory=_no_secret)
    create_task_path: str = "/services/create_task"


# The developer API's services (seed 001), the keys of `own_fleet.services`.
OWN_FLEET_SERVICES = (
    "create_order", "create_user", "start_shift", "end_shift", "driver_home_event",
    "open_orders", "get_order", "update_order", "start_order", "checkin", "create_note",
    "update_note", "checkout",
    "end_order", "cancel_order", "get_shifts_schedule", "driver_availability",
    "create_delivery_block", "get_delivery_block", "update_delivery_block",
    "delete_delivery_block", "assign_delivery_block", "unassign_delivery_block",
    "delivery_blocks_by_driver", "delivery_blocks_by_team",
)  # fmt: skip
PROFILES = ("fleet", "own_fleet")  # the values of api.profile


class OwnFleetConfig(Section, frozen=True):
    """A Bringg customer's own drivers through the developer API (`[own_fleet]`, seed 001).

    Each service has its own secret URL (`/services/{serviceId}/{uuid1}/{uuid2}`): the table is
    a credential, kept in `Secret`s and never shown. Empty: the embedded sandbox's. The partner
    API's signed calls use `partner_url`, `company_id`, `access_token` and `secret_key`."""

    services: dict[str, Secret] = field(default_factory=dict)  # service name -> URL
    shift_length_s: float = 8 * 3600.0  # a driver ends its shift after this long (sim time)
    partner_url: str = ""  # e.g. https://developer-api.bringg.com/partner_api
    company_id: int = 0
    access_token: Secret = field(default_factory=_no_secret)
    secret_key: Secret = field(default_factory=_no_secret)


class WebhookConfig(Section, frozen=True):
    """The fleet's webhook receiver (`[webhooks]`)."""

    host: str = "127.0.0.1"
    port: int = 8701
    api_key: Secret = field(default_factory=_no_secret)
    delivery_created_path: str = "/webhooks/delivery_created"
    delivery_updated_path: str = "/webhooks/delivery_updated"
    delivery_cancelled_path: str = "/webhooks/delivery_cancelled"
    return_delivery_created_path: str = "/webhooks/return_delivery_created"
    merchant_registered_path: str = "/webhooks/merchant_registered"


class DriverConfig(Section, frozen=True):
    """How one simulated driver behaves (`[driver]`)."""

    ping_interval_s: float = 10.0
    idle_ping_interval_s: float = 60.0
    geofence_radius_m: float = 50.0
    note_text_ratio: float = 1.0
    note_photo_ratio: float = 0.7
    note_signature_ratio: float = 0.5
    cancel_reason_id: int = 0


class RunConfig(Section, frozen=True):
    """The fleet run: `driver-agent run` (`[run]`)."""

    drivers: int = 20
    orders: int = 40
    speed: float = 60.0
    seed: int = 1
    run_id: str = ""  # in the ids of the orders the run creates; empty: a random one per run
    duration_s: float = 0.0  # 0: until every order reached a final state
    report_dir: str = "driver-agent-report"
    ramp_up_per_s: float = 50.0
    max_request_rate: float = 0.0  # requests per real second, 0: no cap
    relocate_beyond_km: float = 20.0
    on_stop: str = "finish"  # "finish" or "cancel" the orders in hand on a graceful stop
    fail_fast: bool = False
    manhattan_share: float = 0.25
    road_network: str = ""  # a bundled map (helsinki, liechtenstein) or a .roads.json.gz path
    # recorded routes the run's orders follow: GPX/GeoJSON files, or directories of them
    routes: tuple[str, ...] = ()
    live_map: bool = False
    live_map_port: int = 0


class ThresholdsConfig(Section, frozen=True):
    """k6-style pass/fail checks on the run (`[thresholds]`)."""

    checks: tuple[str, ...] = (
        "p95_ms < 800",
        "error_rate < 0.01",
        "max_ping_gap_s <= 30",
        "orders_completed_ratio >= 0.99",
    )


class BridgeConfig(Section, frozen=True):
    """The telematics bridge daemon (`[bridge]`)."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 8702
    device_map: dict[str, str] = field(default_factory=dict)  # device id -> driver external id
    device_map_file: str = ""
    gpx: dict[str, str] = field(default_factory=dict)  # device id -> GPX file to replay
    replay_speed: float = 1.0
    outbox: str = "driver-agent-outbox.sqlite3"
    outbox_max_rows: int = 1_000_000
    outbox_max_age_s: float = 24 * 3600.0
    radius_in_m: float = 50.0
    radius_out_m: float = 80.0
    stop_speed_mps: float = 1.5
    min_dwell_s: float = 30.0
    resend_last_position: bool = False
    assign: str = "nearest"  # "nearest" vehicle, or "config" (device_map order)
    orders: int = 0  # end after N orders reached a final state (0: run until a signal)
    duration_s: float = 0.0
    ndjson: str = ""  # newline-delimited JSON positions from this file, or "-" for stdin
    drain_timeout_s: float = 10.0  # on stop, how long to keep sending the outbox backlog
    # the key position senders must present (X-Api-Key header or ?key= in the URL); empty:
    # only loopback senders are accepted
    input_key: Secret = field(default_factory=_no_secret)


class DistributedConfig(Section, frozen=True):
    """`[distributed]`: one run split across Ray workers (docs/distributed.md)."""

    workers: int = 1  # 1 (and no ray_address): today's single process, no Ray
    ray_address: str = ""  # join this Ray cluster ("ray://host:10001", "auto"); empty: a local one

    @property
    def enabled(self) -> bool:
        return self.workers > 1 or bool(self.ray_address)


class LogConfig(Section, frozen=True):
    """Logging (`[log]`)."""

    level: str = "info"
    format: str = "auto"  # "auto": console on a terminal, JSON otherwise; or "console", "json"


class Config(Struct, frozen=True, forbid_unknown_fields=True):
    api: ApiConfig = field(default_factory=ApiConfig)
    merchant: MerchantConfig = field(default_factory=MerchantConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    driver: DriverConfig = field(default_factory=DriverConfig)
    run: RunConfig = field(default_factory=RunConfig)
    thresholds: ThresholdsConfig = field(default_factory=ThresholdsConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    log: LogConfig = field(default_factory=LogConfig)
    own_fleet: OwnFleetConfig = field(default_factory=OwnFleetConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Build the configuration; `overrides` maps dotted keys (`run.drivers`) to flag values."""
    table: dict[str, Any] = {}
    if path is not None:
        table = _read_toml(path)
    for var, (section, key) in ENV_SECRETS.items():
        secret = (env or {}).get(var)
        if secret:
            _put(table, section, key, secret)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            section, _, key = dotted.partition(".")
            _put(table, section, key, value)

    def error(where: str, message: str) -> ConfigError:
        return config_error(table, where, message, SECRET_KEYS)

    config = convert(table, Config, error=error, dec_hook=_decode_secret)
    _validate(config)
    return config


def masked(config: Config) -> dict[str, Any]:
    """The configuration as plain data with every secret masked (`core.redaction.redact`)."""
    result: dict[str, Any] = redact(msgspec.to_builtins(config, enc_hook=redact))
    return result


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read config file: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        where = f"{path}:{found.group(1)}" if found else str(path)
        raise ConfigError(where, f"not valid TOML: {message}") from None


def _put(table: dict[str, Any], section: str, key: str, value: object) -> None:
    """`table[section][key] = value`; a section that is not a table is left for `convert` to
    name (`api: expected a table/object, got 3`)."""
    inner = table.setdefault(section, {})
    if isinstance(inner, dict):
        inner[key] = value


def _decode_secret(type_: type, value: Any) -> Any:
    if type_ is Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value)
        raise TypeError("Expected `str`")
    raise NotImplementedError(type_)  # pragma: no cover - Secret is the only custom type


def _validate_own_fleet(config: Config) -> None:
    one_of("api.profile", config.api.profile, PROFILES)
    own = config.own_fleet
    insecure = config.api.allow_insecure_http
    for name, url in own.services.items():
        where = f"own_fleet.services.{name}"
        if name not in OWN_FLEET_SERVICES:
            raise ConfigError(where, f"unknown service; known: {', '.join(OWN_FLEET_SERVICES)}")
        try:
            check_url(url.reveal(), where, allow_insecure_http=insecure)
        except ConfigError:  # the URL is the credential: say what is wrong, not what it is
            raise ConfigError(
                where,
                "not an https URL with a host and no query (plain http only to loopback, unless "
                "api.allow_insecure_http); the value is not shown: a secret",
            ) from None
    non_negative("own_fleet.shift_length_s", own.shift_length_s)
    non_negative("own_fleet.company_id", own.company_id)
    if own.partner_url:
        check_url(own.partner_url, "own_fleet.partner_url", allow_insecure_http=insecure)


def _validate(config: Config) -> None:
    check_api(config.api)
    _validate_own_fleet(config)
    port("webhooks.port", config.webhooks.port)
    d = config.driver
    positive("driver.ping_interval_s", d.ping_interval_s)
    if d.ping_interval_s > 30:
        raise ConfigError(
            "driver.ping_interval_s", f"must be <= 30 (Bringg's rule), got {d.ping_interval_s!r}"
        )
    positive("driver.idle_ping_interval_s", d.idle_ping_interval_s)
    positive("driver.geofence_radius_m", d.geofence_radius_m)
    for key in ("note_text_ratio", "note_photo_ratio", "note_signature_ratio"):
        ratio(f"driver.{key}", getattr(d, key))
    r = config.run
    non_negative("run.drivers", r.drivers)
    non_negative("run.orders", r.orders)
    positive("run.speed", r.speed)
    non_negative("run.duration_s", r.duration_s)
    positive("run.ramp_up_per_s", r.ramp_up_per_s)
    non_negative("run.max_request_rate", r.max_request_rate)
    positive("run.relocate_beyond_km", r.relocate_beyond_km)
    one_of("run.on_stop", r.on_stop, ("finish", "cancel"))
    ratio("run.manhattan_share", r.manhattan_share)
    if not RUN_ID.fullmatch(r.run_id):
        raise ConfigError("run.run_id", f"must be 0-32 of A-Z a-z 0-9 _ -, got {r.run_id!r}")
    port("run.live_map_port", r.live_map_port)
    for i, route in enumerate(r.routes):
        if not route.strip():
            raise ConfigError(f"run.routes[{i}]", f"expected a GPX or GeoJSON path, got {route!r}")
    b = config.bridge
    port("bridge.listen_port", b.listen_port)
    positive("bridge.replay_speed", b.replay_speed)
    positive("bridge.radius_in_m", b.radius_in_m)
    if b.radius_out_m < b.radius_in_m:
        raise ConfigError("bridge.radius_out_m", "must be >= bridge.radius_in_m (hysteresis)")
    one_of("bridge.assign", b.assign, ("nearest", "config"))
    non_negative("bridge.orders", b.orders)
    non_negative("bridge.duration_s", b.duration_s)
    non_negative("bridge.drain_timeout_s", b.drain_timeout_s)
    positive("bridge.outbox_max_rows", b.outbox_max_rows)
    positive("bridge.outbox_max_age_s", b.outbox_max_age_s)
    if not b.input_key and not is_loopback_host(b.listen_host):
        raise ConfigError(
            "bridge.input_key",
            f"required when bridge.listen_host ({b.listen_host!r}) is not a loopback address "
            "(set DRIVER_AGENT_BRIDGE_INPUT_KEY)",
        )
    w = config.distributed
    positive("distributed.workers", w.workers)
    if w.enabled and w.workers > max(r.drivers, 1):
        raise ConfigError(
            "distributed.workers",
            f"must be <= run.drivers ({r.drivers}): every worker drives a share of the fleet, "
            f"got {w.workers}",
        )
    one_of("log.level", config.log.level, ("debug", "info", "warning", "error"))
    one_of("log.format", config.log.format, ("auto", "console", "json"))
