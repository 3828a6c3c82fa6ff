"""The sandbox's stand-in for geocoding: an address hashes to a fixed point inside its area (pure).

The same address (after normalising case, punctuation and spaces) always lands on the same point,
so every order the sandbox accepts can be driven, and runs repeat exactly.
"""

from __future__ import annotations

import hashlib
import re

_NON_WORD = re.compile(r"[^\w]+")


def normalise_address(address: str) -> str:
    """Lower case, punctuation to spaces, runs of spaces collapsed."""
    return " ".join(_NON_WORD.sub(" ", address.casefold()).split())


def geocode(address: str, area: tuple[float, float, float, float]) -> tuple[float, float]:
    """(lat, lng) for `address`, inside `area` = (min_lat, min_lng, max_lat, max_lng)."""
    min_lat, min_lng, max_lat, max_lng = area
    digest = hashlib.blake2b(normalise_address(address).encode(), digest_size=16).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    v = int.from_bytes(digest[8:], "big") / 2**64
    # Keep a small margin so a point never sits exactly on the boundary.
    lat = min_lat + (0.02 + 0.96 * u) * (max_lat - min_lat)
    lng = min_lng + (0.02 + 0.96 * v) * (max_lng - min_lng)
    return round(lat, 7), round(lng, 7)
