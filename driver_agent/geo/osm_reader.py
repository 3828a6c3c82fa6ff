"""Reading an OpenStreetMap extract (`.osm.pbf`) with osmium: the edge of `roads build`.

osmium is the optional extra `driver-agent[osm]`; importing this module without it raises
ModuleNotFoundError (the command turns that into one line saying how to install it). Ways are
kept when `osm_graph.way_rule` says a van may drive them, split where a node has no location
(clipped at the extract's border); closed ways tagged landuse=industrial/commercial/retail
become depot candidates. Any problem is a ConfigError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import osmium

from driver_agent.core.errors import ConfigError
from driver_agent.geo.osm_graph import DEPOT_LANDUSE, Area, Way, way_rule

PBF_MAGIC = b"OSMHeader"


class _Collector(osmium.SimpleHandler):
    def __init__(self) -> None:
        super().__init__()
        self.ways: list[Way] = []
        self.areas: list[Area] = []

    def way(self, w: osmium.osm.Way) -> None:
        tags = {t.k: t.v for t in w.tags}
        landuse = tags.get("landuse", "")
        if landuse in DEPOT_LANDUSE and w.is_closed():
            ring = tuple((n.location.lat, n.location.lon) for n in w.nodes if n.location.valid())
            if len(ring) >= 4:
                self.areas.append(Area(landuse, ring))
        rule = way_rule(tags)
        if rule is None:
            return
        run: list[tuple[int, float, float]] = []
        for n in w.nodes:
            if n.location.valid():
                run.append((n.ref, n.location.lat, n.location.lon))
                continue
            if len(run) >= 2:
                self.ways.append(Way(rule, tuple(run)))
            run = []
        if len(run) >= 2:
            self.ways.append(Way(rule, tuple(run)))


def read_extract(path: Path) -> tuple[list[Way], list[Area]]:
    """The drivable ways and depot land-use areas of the extract at `path`."""
    where = str(path)
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError as e:
        raise ConfigError(where, f"cannot read: {e.strerror or e}") from None
    if PBF_MAGIC not in head:
        raise ConfigError(where, "not an OpenStreetMap .osm.pbf file")
    collector = _Collector()
    try:
        collector.apply_file(where, locations=True)
    except RuntimeError as e:
        raise ConfigError(where, f"cannot read the OpenStreetMap data: {e}") from None
    if not collector.ways:
        raise ConfigError(where, "no drivable roads in it")
    return collector.ways, collector.areas
