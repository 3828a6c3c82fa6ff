"""A small road grid like `bench.routing`'s city, for the router tests: arterials every 5th
street, residential between, one-way streets alternating in direction."""

from __future__ import annotations

from driver_agent.geo.roads import RoadNetwork

SIDE = 24


def grid_network(side: int = SIDE) -> RoadNetwork:
    """A small city like the bench's: arterials every 5th street, one-way streets between."""
    nodes = [(60.0 + i * 0.0009, 25.0 + j * 0.0018) for i in range(side) for j in range(side)]
    edges = []
    for i in range(side):
        for j in range(side):
            here = i * side + j
            for di, dj, line in ((0, 1, i), (1, 0, j)):
                if i + di >= side or j + dj >= side:
                    continue
                there = (i + di) * side + (j + dj)
                road = "primary" if line % 5 == 0 else "residential"
                if line % 5 == 2:  # one-way, alternating direction
                    u, v = (here, there) if (line // 5) % 2 == 0 else (there, here)
                    edges.append((u, v, road, 0.0, True, []))
                else:
                    edges.append((here, there, road, 0.0, False, []))
    return RoadNetwork(nodes, edges, name="grid")
