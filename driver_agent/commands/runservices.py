"""What a run needs around its drivers: the webhook receiver and, in embedded mode, the sandbox.

Embedded mode (no api_url): the sandbox starts in-process with its fleet webhook pointed at our
receiver, and the API settings the drivers use are the sandbox's (its URL and client). Remote
mode: the receiver listens where Bringg sends webhooks. One function for the single-process run
(`fleetrun`) and the head of a distributed one (`distributed`): both hold the one receiver.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import msgspec
import structlog

from driver_agent.commands.preflight import is_embedded
from driver_agent.core.clock import Clock
from driver_agent.core.config import ApiConfig, Config
from driver_agent.core.errors import ConfigError
from driver_agent.core.serving import serve_app
from driver_agent.fleetapi.webhooks import WebhookReceiver, WebhookSettings
from driver_agent.geo.places import address_places
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sandbox.app import SandboxApp, create_app, serve_sandbox
from driver_agent.sandbox.settings import SandboxSettings

log = structlog.get_logger("driver_agent.run")


@dataclass
class RunServices:
    receiver: WebhookReceiver
    api: ApiConfig  # what the drivers call: the embedded sandbox's, or the configured API's
    embedded: bool
    sandbox_paths: dict[str, str] | None  # the embedded developer API's services
    task_group: anyio.abc.TaskGroup  # more services (the live map) start here


@asynccontextmanager
async def open_run_services(
    config: Config,
    clock: Clock,
    network: RoadNetwork,
    *,
    on_sandbox: Callable[[SandboxApp, str], None] | None = None,
    listen_host: str = "127.0.0.1",
) -> AsyncIterator[RunServices]:
    """The receiver and (embedded) sandbox, served until the block ends. `listen_host`: where the
    embedded sandbox and receiver listen (loopback, unless workers on other machines call it)."""
    embedded = is_embedded(config)
    if embedded:
        api_keys = (SandboxSettings().merchant_api_key,)
        host, port = listen_host, 0
    else:
        if not config.webhooks.api_key:
            raise ConfigError(
                "webhooks.api_key",
                "required in remote mode (set DRIVER_AGENT_WEBHOOK_API_KEY): "
                "Bringg's webhooks carry it in Authorization",
            )
        api_keys = (config.webhooks.api_key,)
        host, port = config.webhooks.host, config.webhooks.port
    settings = dataclasses.replace(
        WebhookSettings.from_config(config.webhooks), host=host, port=port, api_keys=api_keys
    )
    with WebhookReceiver(settings, clock=clock, buffer_size=max(1024, config.run.orders)) as rx:
        async with anyio.create_task_group() as services:
            webhook_url = await services.start(serve_app, rx.app, host, port)
            api = config.api
            sandbox_paths: dict[str, str] | None = None
            if embedded:
                area, places = address_places(network, seed=config.run.seed)
                sandbox = SandboxSettings(
                    fleet_webhook_url=webhook_url,
                    area=area,
                    places=places,
                    seed=config.run.seed,
                    webhook_retry_delay_s=1.0,
                )
                app = create_app(sandbox)
                sandbox_paths = dict(app.devapi.paths)
                api_url = await services.start(functools.partial(serve_sandbox, host=host, app=app))
                if on_sandbox is not None:
                    on_sandbox(app, api_url)  # tests read and drive the sandbox itself
                api = msgspec.structs.replace(
                    api,
                    api_url=api_url,
                    token_url="",
                    client_id=sandbox.client_id,
                    client_secret=sandbox.client_secret,
                )
                log.info("sandbox_started", url=api_url, webhook_url=webhook_url)
            else:
                log.info("webhook_receiver_listening", url=webhook_url)
            yield RunServices(rx, api, embedded, sandbox_paths, services)
            services.cancel_scope.cancel()
