"""Road classes (OpenStreetMap `highway=*` values): which are drivable and how fast we cruise.

One table shared by the graph builder, the router (travel-time costs) and the motion model
(cruise speed per segment). Cruise speeds are what a delivery van actually drives in a city, not
the legal limits: a known `maxspeed` lowers them, never raises them.

Pure: constants and two small functions.
"""

from __future__ import annotations

CRUISE_KPH: dict[str, float] = {
    "motorway": 80.0,
    "motorway_link": 50.0,
    "trunk": 70.0,
    "trunk_link": 45.0,
    "primary": 50.0,
    "primary_link": 35.0,
    "secondary": 40.0,
    "secondary_link": 30.0,
    "tertiary": 35.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 15.0,
    "service": 15.0,
    "road": 30.0,
}
UNKNOWN_CLASS_CRUISE_KPH = 36.0  # a road of unknown class: urban driving
STRAIGHT_LINE_CLASS = "straight"  # off the road network: a straight line at urban pace
STRAIGHT_LINE_CRUISE_KPH = 30.0

DRIVABLE = frozenset(CRUISE_KPH)


def cruise_mps(road_class: str, speed_limit_mps: float = 0.0) -> float:
    """Cruise speed for a segment: the class's speed, capped by a known limit (0 = unknown)."""
    if road_class == STRAIGHT_LINE_CLASS:
        kph = STRAIGHT_LINE_CRUISE_KPH
    else:
        kph = CRUISE_KPH.get(road_class, UNKNOWN_CLASS_CRUISE_KPH)
    mps = kph / 3.6
    if speed_limit_mps > 0.0:
        mps = min(mps, speed_limit_mps)
    return mps


def parse_maxspeed_kph(raw: str) -> float:
    """OSM `maxspeed` ("50", "30 mph", "FI:urban") -> km/h; 0.0 when unknown or symbolic."""
    text = raw.strip().lower()
    factor = 1.0
    if text.endswith("mph"):
        factor, text = 1.609344, text[:-3].strip()
    elif text.endswith("km/h"):
        text = text[:-4].strip()
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value * factor if 0.0 < value < 200.0 else 0.0
