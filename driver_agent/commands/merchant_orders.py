"""The run's own orders: planned from the seed and created through the merchant API.

In embedded mode (and in remote mode with `[merchant]` credentials) the run creates its orders
the documented way (Create Order or the Manhattan path -> Delivery Created webhook -> the
fleet), so the fleet receives them as it would from Bringg. The fleet is told how many were
created (it waits for those); a create whose answer was lost and that "exists already" on the
resend counts as created.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import structlog

from driver_agent.core.clock import Clock
from driver_agent.core.config import ApiConfig, Config
from driver_agent.core.errors import ApiError
from driver_agent.fleetapi.merchant import MerchantClient
from driver_agent.fleetapi.transport import open_http_pool
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sim.orders import order_id_prefix, plan_orders
from driver_agent.sim.routebook import RecordedRoute

log = structlog.get_logger("driver_agent.run")


async def create_orders(
    config: Config,
    api: ApiConfig,
    clock: Clock,
    network: RoadNetwork,
    routes: Sequence[RecordedRoute],
    expect: Callable[[int], None],
) -> None:
    """Create the run's orders through the merchant API (following `routes`, the run's recorded
    ones, if any); `expect(n)` tells the fleet (or the head) how many were created."""
    run = config.run
    if config.api.api_url:
        client_id, secret = config.merchant.client_id, config.merchant.client_secret
    else:
        defaults = SandboxSettings()
        client_id, secret = defaults.merchant_client_id, defaults.merchant_client_secret
    requests = plan_orders(
        network,
        run.orders,
        random.Random(f"{run.seed}:orders"),
        manhattan_share=run.manhattan_share,
        now_s=clock.now(),
        id_prefix=order_id_prefix(run.seed, run.run_id),
        routes=routes,
    )
    created = 0
    async with open_http_pool(api) as http:
        merchant = MerchantClient(
            http, api.api_url, client_id, secret, clock,
            create_task_path=config.merchant.create_task_path,
            max_retries=api.max_retries,
            backoff_base_s=api.backoff_base_s,
            backoff_cap_s=api.backoff_cap_s,
        )  # fmt: skip
        reconciled = 0
        for request in requests:
            try:
                if await merchant.create(request) is None:
                    reconciled += 1  # a resend found it created: one order, not two
                created += 1
            except ApiError as exc:
                log.error("order_not_created", external_id=request.external_id, error=str(exc))
    log.info("orders_created", created=created, planned=len(requests), reconciled=reconciled)
    expect(created)
