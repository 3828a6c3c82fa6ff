"""A driver's random draws: seeded, a few dozen bytes each, the same numbers on every machine.

`Draws(key)` is SplitMix64 (Steele, Lea and Flood, 2014): the state is a 64-bit counter that
steps by a fixed odd constant, and each output is that counter through a fixed bijective mix,
so draw k of a key is a pure function of (key, k). The key (`"{seed}:{driver_id}"`) sets the
counter's start through BLAKE2b, stable across processes (unlike `hash()`). It passes BigCrush
and is what Java's `SplittableRandom` uses; a simulation's route, dwell and GPS draws need no more.

Why not `random.Random`: its Mersenne Twister state is 2.5 KB, and every busy driver held two
(route draws and GPS noise), a third of its memory. A `Draws` is ~100 bytes. The numbers for a
seed differ from those `random.Random` drew; a seed still gives the same run every time.

`Rng` is what the simulation draws from: `Draws` or a `random.Random` (tests pass either).
"""

from __future__ import annotations

import hashlib
import math
from typing import Protocol

_GAMMA = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_TWO_PI = 2.0 * math.pi


class Rng(Protocol):
    """The draws the simulation makes (a subset of `random.Random`'s methods)."""

    def random(self) -> float: ...

    def uniform(self, a: float, b: float) -> float: ...

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float: ...

    def triangular(
        self, low: float = 0.0, high: float = 1.0, mode: float | None = None
    ) -> float: ...


class Draws:
    """SplitMix64 draws keyed by a string; the methods behave as `random.Random`'s namesakes."""

    __slots__ = ("_spare", "_state")

    def __init__(self, key: str) -> None:
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
        self._state = int.from_bytes(digest, "little")
        self._spare: float | None = None  # the second normal of the last Box-Muller pair

    def random(self) -> float:
        """Uniform in [0, 1), 53 bits."""
        z = self._state = (self._state + _GAMMA) & _MASK
        z = ((z ^ (z >> 30)) * _MIX1) & _MASK
        z = ((z ^ (z >> 27)) * _MIX2) & _MASK
        return ((z ^ (z >> 31)) >> 11) * 1.1102230246251565e-16  # 2 ** -53

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        """Normal: Box-Muller, two per pair of uniforms (the second is kept for the next call)."""
        z = self._spare
        if z is None:
            angle = _TWO_PI * self.random()
            radius = math.sqrt(-2.0 * math.log(1.0 - self.random()))  # 1 - u: never log(0)
            z, self._spare = radius * math.cos(angle), radius * math.sin(angle)
        else:
            self._spare = None
        return mu + z * sigma

    def triangular(self, low: float = 0.0, high: float = 1.0, mode: float | None = None) -> float:
        """As `random.Random.triangular`: low <= x <= high, peaked at `mode` (default middle)."""
        u = self.random()
        try:
            c = 0.5 if mode is None else (mode - low) / (high - low)
        except ZeroDivisionError:
            return low
        if u > c:
            u, c = 1.0 - u, 1.0 - c
            low, high = high, low
        return low + (high - low) * math.sqrt(u * c)
