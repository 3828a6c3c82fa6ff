"""Who drives and with what: the drivers' specs, where a far driver is moved, the proof images.

Pure apart from reading the two proof-of-delivery images shipped in `pod_assets/`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from driver_agent.fleetapi.wire import Note
from driver_agent.geo.geometry import destination
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sim.context import DriverSpec, ProofAssets
from driver_agent.sim.orders import FIRST, LAST

ASSETS = Path(__file__).parent / "pod_assets"


def proof_assets() -> ProofAssets:
    return ProofAssets(
        photo=Note.photo((ASSETS / "photo.jpg").read_bytes(), caption="At the door"),
        signature=Note.signature((ASSETS / "signature.png").read_bytes(), signer="Customer"),
    )


def driver_specs(network: RoadNetwork, count: int, seed: int) -> list[DriverSpec]:
    """Drivers spread over the depots and the covered area, with names and phone numbers."""
    rng = random.Random(f"{seed}:drivers")
    specs = []
    for i in range(count):
        if i % 2 == 0:
            depot = network.depots[(i // 2) % len(network.depots)]
            lat, lng = depot.lat, depot.lng
        else:
            lat, lng = network.random_point(rng)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        phone = f"+3585{rng.randint(10_000_000, 99_999_999)}"
        specs.append(DriverSpec(f"drv-{i + 1:05d}", name, lat, lng, phone))
    return specs


def relocator(network: RoadNetwork) -> Callable[[float, float, random.Random], tuple[float, float]]:
    """A short plausible drive from the pickup: a road point nearby, or 1.5-4 km off-road."""

    def relocate(lat: float, lng: float, rng: random.Random) -> tuple[float, float]:
        if network.covers(lat, lng):
            return network.random_point(rng)
        return destination(lat, lng, rng.uniform(0, 360), rng.uniform(1_500, 4_000))

    return relocate
