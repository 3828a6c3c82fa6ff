"""The developer API's per-service URLs (seed 001): one `/services/{serviceId}/{uuid1}/{uuid2}`
per service, derived from the sandbox's seed as Bringg's developer portal issues them (pure).

The URL is the credential: whoever holds a service's URL may call that service, and only that
one. The names are the table keys a run's config uses (`[api.services]`); the client keeps its
own copy of them (it never imports the sandbox).
"""

from __future__ import annotations

import random
import uuid

SERVICE_NAMES: tuple[str, ...] = (
    "create_order",
    "create_user",
    "start_shift",
    "end_shift",
    "driver_home_event",
    "open_orders",
    "get_order",
    "update_order",
    "start_order",
    "checkin",
    "create_note",
    "update_note",
    "checkout",
    "end_order",
    "cancel_order",
    "get_shifts_schedule",
    "driver_availability",
    "create_delivery_block",
    "get_delivery_block",
    "update_delivery_block",
    "delete_delivery_block",
    "assign_delivery_block",
    "unassign_delivery_block",
    "delivery_blocks_by_driver",
    "delivery_blocks_by_team",
)
# the services the seed shows as GET (Delete a Delivery Block: a GET with a body); every
# service also answers POST
GET_SERVICES = frozenset(
    {"get_shifts_schedule", "driver_availability", "get_delivery_block", "delete_delivery_block"}
)
SERVICES_PREFIX = "/services/"


def service_paths(seed: int) -> dict[str, str]:
    """{service name -> path}: the same seed gives the same URLs, another seed other ones."""
    rng = random.Random(f"developer-api:{seed}")
    paths: dict[str, str] = {}
    for name in SERVICE_NAMES:
        service_id = f"{rng.getrandbits(32):08x}"
        first = uuid.UUID(int=rng.getrandbits(128), version=4)
        second = uuid.UUID(int=rng.getrandbits(128), version=4)
        paths[name] = f"{SERVICES_PREFIX}{service_id}/{first}/{second}"
    return paths
