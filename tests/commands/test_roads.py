"""`driver-agent roads build` and `roads route`, through the CLI's main()."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from driver_agent.cli import main
from driver_agent.geo.roadfile import ATTRIBUTION
from driver_agent.geo.roads import RoadNetwork

SHARED_OSM = Path(__file__).resolve().parents[3] / "shared" / "osm"
LIECHTENSTEIN_PBF = SHARED_OSM / "liechtenstein-2013-08-03.osm.pbf"
HAS_OSMIUM = importlib.util.find_spec("osmium") is not None
needs_osmium = pytest.mark.skipif(
    not HAS_OSMIUM, reason="osmium (the osm extra) is not installed: pip install -e '.[osm]'"
)


def _write_pbf(path: Path, ways: list[tuple[list[int], dict[str, str]]]) -> None:
    """A tiny extract: nodes 1..9 on a 3 x 3 grid 0.002 degrees (about 150-220 m) apart."""
    import osmium

    with osmium.SimpleWriter(str(path)) as writer:
        for n in range(1, 10):
            row, col = divmod(n - 1, 3)
            writer.add_node(
                osmium.osm.mutable.Node(id=n, location=(9.5 + col * 0.002, 47.1 + row * 0.002))
            )
        for k, (refs, tags) in enumerate(ways, 1):
            writer.add_way(osmium.osm.mutable.Way(id=k, nodes=refs, tags=tags))


def _feature(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main(argv) == 0
    out = capsys.readouterr().out
    feature: dict[str, object] = json.loads(out)
    return feature


@needs_osmium
def test_build_turns_an_extract_into_a_graph_with_depots_and_attribution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pbf = tmp_path / "tiny.osm.pbf"
    ring = {"highway": "residential"}
    _write_pbf(
        pbf,
        [
            ([1, 2, 3, 6, 9, 8, 7, 4, 1], ring),  # the outer ring, two-way
            ([4, 5, 6], {"highway": "primary", "oneway": "yes", "maxspeed": "40"}),
            ([2, 5], {"highway": "residential", "oneway": "-1"}),  # driven 5 -> 2
            ([5, 8], {"highway": "footway"}),  # not for vans
            ([1, 3, 9, 7, 1], {"landuse": "industrial"}),  # the whole grid: centre node 5
        ],
    )
    out = tmp_path / "tiny.roads.json.gz"
    assert main(["roads", "build", str(pbf), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    # junctions: way ends and shared nodes (1, 2, 4, 5, 6); 3, 7, 8 and 9 only shape the ring
    assert printed.startswith(f"wrote {out}: 5 junctions (of 5), 7 road stretches")
    doc = json.loads(gzip.decompress(out.read_bytes()))
    assert doc["attribution"] == ATTRIBUTION
    assert doc["source"] == "tiny.osm.pbf"
    assert doc["name"] == "tiny"
    assert sorted(doc["classes"]) == ["primary", "residential"]
    assert [d["name"] for d in doc["depots"]] == ["Depot 1 (industrial)"]
    assert (doc["depots"][0]["lat"], doc["depots"][0]["lng"]) == (47.102, 9.502)
    assert doc["format"] == "driver-agent-roads/4"
    assert len(base64.b64decode(doc["hierarchy"]["up_ptr"])) == 4 * 6  # a row per junction
    columns = doc["edges"]
    primary = [k for k, c in enumerate(columns["class"]) if doc["classes"][c] == "primary"]
    assert len(primary) == 2  # 4 -> 5 -> 6
    assert all(columns["kph"][k] == 40 and columns["oneway"][k] == 1 for k in primary)
    network = RoadNetwork.load(out)
    assert network.router.hierarchy is not None  # the file's, not landmarks
    assert network.router.landmarks is None
    # one-way 4 -> 5 -> 6: from 6 towards 4 goes round the ring instead
    along = network.route(47.102, 9.5005, 47.102, 9.5035)
    against = network.route(47.102, 9.5035, 47.102, 9.5005)
    assert along is not None
    assert against is not None
    assert along.length_m < 260 < against.length_m


@needs_osmium
def test_build_takes_depots_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pbf = tmp_path / "tiny.osm.pbf"
    street = {"highway": "residential"}
    _write_pbf(pbf, [([1, 2, 3, 6, 9, 8, 7, 4, 1], street), ([4, 5, 6], street)])
    out = tmp_path / "plain.roads.json"
    argv = ["roads", "build", str(pbf), "--output", str(out), "--depot", "47.1041,9.5001"]
    assert main([*argv, "--name", "Tiny town"]) == 0
    doc = json.loads(out.read_text())  # no .gz: plain JSON
    assert doc["name"] == "Tiny town"
    # the nearest graph node: junction 4 (node 7 only shapes the ring)
    assert doc["depots"] == [{"name": "Depot 1", "lat": 47.102, "lng": 9.5}]
    far = ["roads", "build", str(pbf), "--output", str(out), "--depot", "48,9.5"]
    assert main(far) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("driver-agent: error: --depot: depot 48.0,9.5 is ")


@needs_osmium
@pytest.mark.skipif(not LIECHTENSTEIN_PBF.is_file(), reason="../shared/osm is not beside the repo")
def test_building_liechtenstein_gives_the_bundled_graph(tmp_path: Path) -> None:
    out = tmp_path / "li.roads.json.gz"
    argv = ["roads", "build", str(LIECHTENSTEIN_PBF), "--output", str(out), "--name"]
    depots = ["--depot", "47.1750,9.5116", "--depot", "47.1766,9.5076", "--depot", "47.1760,9.5192"]
    assert main([*argv, "Liechtenstein", *depots]) == 0
    bundled = RoadNetwork.bundled("liechtenstein")
    built = RoadNetwork.load(out)
    assert built.edge_count == bundled.edge_count
    assert built.total_length_m == pytest.approx(bundled.total_length_m, rel=1e-9)
    assert built.depots == bundled.depots


@needs_osmium
@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "cannot read", id="missing"),
        pytest.param(b"<osm></osm>", "not an OpenStreetMap .osm.pbf file", id="not-pbf"),
        pytest.param(b"", "not an OpenStreetMap .osm.pbf file", id="empty"),
    ],
)
def test_build_errors_are_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    pbf = tmp_path / "city.osm.pbf"
    if content is not None:
        pbf.write_bytes(content)
    assert main(["roads", "build", str(pbf), "--output", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"driver-agent: error: {pbf}: {message}"] or (
        len(err) == 1 and err[0].startswith(f"driver-agent: error: {pbf}: {message}")
    )
    assert not (tmp_path / "o.json").exists()


@needs_osmium
def test_an_extract_without_roads_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pbf = tmp_path / "paths.osm.pbf"
    _write_pbf(pbf, [([1, 2, 3], {"highway": "footway"})])
    assert main(["roads", "build", str(pbf), "--output", str(tmp_path / "o.json")]) == 2
    assert capsys.readouterr().err == f"driver-agent: error: {pbf}: no drivable roads in it\n"


def test_without_the_osm_extra_build_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "osmium", None)  # what an absent package looks like
    monkeypatch.delitem(sys.modules, "driver_agent.geo.osm_reader", raising=False)
    pbf = tmp_path / "city.osm.pbf"
    assert main(["roads", "build", str(pbf), "--output", str(tmp_path / "o.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "driver-agent roads build: reading OpenStreetMap files needs the osm extra: "
        "pip install 'driver-agent[osm]'"
    ]


def test_route_prints_a_geojson_feature_on_a_bundled_map(
    capsys: pytest.CaptureFixture[str],
) -> None:
    feature = _feature(
        capsys,
        ["roads", "route", "liechtenstein", "--from", "47.175,9.5116", "--to", "47.0665,9.503"],
    )
    assert feature["type"] == "Feature"
    geometry = feature["geometry"]
    assert isinstance(geometry, dict)
    assert geometry["type"] == "LineString"
    assert all(9.4 < lng < 9.7 and 47.0 < lat < 47.3 for lng, lat in geometry["coordinates"])
    props = feature["properties"]
    assert isinstance(props, dict)
    assert 10_000 < props["length_m"] < 25_000
    assert 30 < props["length_m"] / props["duration_s"] * 3.6 < 60
    assert props["from"]["asked"] == [9.5116, 47.175]
    assert props["graph"] == "Liechtenstein"


def test_route_reads_a_graph_file_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    network = RoadNetwork.load()
    path = tmp_path / "copy.roads.json"
    path.write_text(json.dumps(network.to_json()))
    a, b = network.depots[0], network.depots[1]
    args = ["--from", f"{a.lat},{a.lng}", "--to", f"{b.lat},{b.lng}"]
    from_file = _feature(capsys, ["roads", "route", str(path), *args])
    bundled = _feature(capsys, ["roads", "route", "helsinki", *args])
    assert from_file["geometry"] == bundled["geometry"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["helsinki", "--from", "60.2,24.94", "--to", "60.17,24.94"],
            "driver-agent: error: --from: 60.2,24.94 is farther than 300 m from any road of "
            "helsinki",
            id="off-the-map",
        ),
        pytest.param(
            ["helsinki", "--from", "60.17,24.94", "--to", "95,24.94"],
            "driver-agent roads route: error: argument --to: '95,24.94': lat 95.0 is outside "
            "[-90, 90]",
            id="bad-latitude",
        ),
        pytest.param(
            ["helsinki", "--from", "here", "--to", "60.17,24.94"],
            "driver-agent roads route: error: argument --from: 'here': expected LAT,LNG in degrees",
            id="not-a-point",
        ),
        pytest.param(
            ["nowhere.roads.json.gz", "--from", "60.17,24.94", "--to", "60.17,24.94"],
            "driver-agent: error: nowhere.roads.json.gz: cannot read road graph: [Errno 2] No such "
            "file or directory: 'nowhere.roads.json.gz'",
            id="missing-graph",
        ),
    ],
)
def test_route_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert _exit_code(["roads", "route", *argv]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]


def _exit_code(argv: list[str]) -> int | str | None:
    """main's return value, or the code argparse exits with on a bad flag."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code
