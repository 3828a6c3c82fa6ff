"""Points on a road network for addresses, so that every order made there can be driven (pure).

The sandbox knows no roads (it imports nothing but `core`); whoever starts it samples the active
network here and hands it the points: every address it geocodes lands on one of them.
"""

from __future__ import annotations

import random

from driver_agent.geo.roads import RoadNetwork

DEFAULT_PLACES = 4096


def address_places(
    network: RoadNetwork, count: int = DEFAULT_PLACES, seed: int = 1
) -> tuple[tuple[float, float, float, float], tuple[tuple[float, float], ...]]:
    """(area, places): `count` seeded points uniform over the roads' length, and the box around
    them as (min_lat, min_lng, max_lat, max_lng)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    rng = random.Random(f"{seed}:places")
    places = tuple(
        (round(lat, 7), round(lng, 7))
        for lat, lng in (network.random_point(rng) for _ in range(count))
    )
    lats = [lat for lat, _ in places]
    lngs = [lng for _, lng in places]
    return (min(lats), min(lngs), max(lats), max(lngs)), places
