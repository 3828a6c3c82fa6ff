"""The sandbox's stand-in for geocoding: an address hashes to a fixed point (pure).

The same address (after normalising case, punctuation and spaces) always lands on the same point,
and runs repeat exactly. With `places` (points on the active road network, given by whoever
starts the sandbox: it knows no roads itself) the point is one of them, so every order the
sandbox creates can be driven on roads; without, it is anywhere inside `area`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

_NON_WORD = re.compile(r"[^\w]+")


def normalise_address(address: str) -> str:
    """Lower case, punctuation to spaces, runs of spaces collapsed."""
    return " ".join(_NON_WORD.sub(" ", address.casefold()).split())


def geocode(
    address: str,
    area: tuple[float, float, float, float],
    places: Sequence[tuple[float, float]] = (),
) -> tuple[float, float]:
    """(lat, lng) for `address`: one of `places` when given, else a point inside `area` =
    (min_lat, min_lng, max_lat, max_lng)."""
    digest = hashlib.blake2b(normalise_address(address).encode(), digest_size=16).digest()
    if places:
        lat, lng = places[int.from_bytes(digest[:8], "big") % len(places)]
        return round(lat, 7), round(lng, 7)
    min_lat, min_lng, max_lat, max_lng = area
    u = int.from_bytes(digest[:8], "big") / 2**64
    v = int.from_bytes(digest[8:], "big") / 2**64
    # Keep a small margin so a point never sits exactly on the boundary.
    lat = min_lat + (0.02 + 0.96 * u) * (max_lat - min_lat)
    lng = min_lng + (0.02 + 0.96 * v) * (max_lng - min_lng)
    return round(lat, 7), round(lng, 7)
