"""Rebuild the bridge's GPX fixtures: `python tests/data/bridge/make_tracks.py` (seeded, stable).

delivery.gpx: a van stands at the depot, drives to the pickup (stands 120 s, GPS jitter of a few
metres), drives on past a drive-by point with a 40 s gap in the record, stands 120 s at the
dropoff, then drives 300 m away and stops. sparse.gpx: the same drive recorded once a minute
around the stops, so the pickup stand falls into a gap (the geofence must infer it) while the
dropoff stand still has points.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
START_S = 1_714_564_800  # 2024-05-01T12:00:00Z
DEPOT = (60.1650, 24.9300)
PICKUP = (60.1700, 24.9400)
DRIVE_BY = (60.1695, 24.9500)
DROPOFF = (60.1690, 24.9600)
AWAY = (60.1717, 24.9600)  # 300 m north of the dropoff
SPEED_MPS = 10.0
STEP_S = 5
M_PER_DEG_LAT = 111_195.0


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (b[0] - a[0]) * M_PER_DEG_LAT
    dx = (b[1] - a[1]) * M_PER_DEG_LAT * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


def _jitter(p: tuple[float, float], rng: random.Random, m: float) -> tuple[float, float]:
    dlat = rng.uniform(-m, m) / M_PER_DEG_LAT
    dlng = rng.uniform(-m, m) / (M_PER_DEG_LAT * math.cos(math.radians(p[0])))
    return p[0] + dlat, p[1] + dlng


def _drive(
    a: tuple[float, float], b: tuple[float, float], t_s: float
) -> tuple[list[tuple[float, tuple[float, float]]], float]:
    duration_s = _metres(a, b) / SPEED_MPS
    steps = max(1, round(duration_s / STEP_S))
    out = []
    for i in range(1, steps + 1):
        f = i / steps
        out.append((t_s + f * duration_s, (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))))
    return out, t_s + duration_s


def _stand(
    p: tuple[float, float], t_s: float, seconds: int, rng: random.Random
) -> tuple[list[tuple[float, tuple[float, float]]], float]:
    out = [(t_s + k, _jitter(p, rng, 4.0)) for k in range(STEP_S, seconds + 1, STEP_S)]
    return out, t_s + seconds


def delivery(rng: random.Random, *, sparse: bool) -> list[tuple[float, tuple[float, float]]]:
    points: list[tuple[float, tuple[float, float]]] = [(START_S, DEPOT)]
    t = float(START_S)
    part, t = _stand(DEPOT, t, 60, rng)
    points += part
    part, t = _drive(DEPOT, PICKUP, t)
    points += part
    part, t = _stand(PICKUP, t, 120, rng)
    points += part
    part, t = _drive(PICKUP, DRIVE_BY, t)
    points += part
    gap_from = t
    part, t = _drive(DRIVE_BY, DROPOFF, t)
    points += [(ts, p) for ts, p in part if not gap_from + 20 < ts < gap_from + 60]
    part, t = _stand(DROPOFF, t, 120, rng)
    points += part
    part, t = _drive(DROPOFF, AWAY, t)
    points += part
    part, t = _stand(AWAY, t, 20, rng)
    points += part
    if sparse:  # one fix a minute from 30 s before the pickup stand to 30 s after it
        arrive = START_S + 60 + _metres(DEPOT, PICKUP) / SPEED_MPS
        points = [
            (ts, p)
            for ts, p in points
            if not (arrive - 30 < ts < arrive + 150) or round(ts - arrive) % 60 == 0
        ]
    return points


def gpx(name: str, points: list[tuple[float, tuple[float, float]]]) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="driver-agent tests" xmlns="http://www.topografix.com/GPX/1/1">',
        f"  <trk><name>{name}</name><trkseg>",
    ]
    for t_s, (lat, lng) in points:
        stamp = datetime.fromtimestamp(round(t_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f'    <trkpt lat="{lat:.6f}" lon="{lng:.6f}"><time>{stamp}</time></trkpt>')
    lines += ["  </trkseg></trk>", "</gpx>", ""]
    return "\n".join(lines)


def main() -> None:
    (HERE / "delivery.gpx").write_text(gpx("delivery", delivery(random.Random(7), sparse=False)))
    (HERE / "sparse.gpx").write_text(gpx("sparse", delivery(random.Random(7), sparse=True)))


if __name__ == "__main__":
    main()
