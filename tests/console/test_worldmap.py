"""The world map (console/worldmap.py): the projection, the country shapes built from TopoJSON
(shared arcs, reversed arcs, rings across the antimeridian), the vendored shapes file, and the
dots and journeys a page draws, placed by real GeoIP test databases."""

from __future__ import annotations

import re
from pathlib import Path

import console_world as cw
from mmdb_writer import build_geo_dbs

from gumshoe.console import worldmap
from gumshoe.console.worldmap import HEIGHT, WIDTH, Place
from gumshoe.investigate.geo import GeoIP


def test_the_projection_puts_longitude_across_and_latitude_down() -> None:
    assert worldmap.project(worldmap.NORTH, -180) == (0, 0)
    assert worldmap.project(worldmap.SOUTH, 180) == (WIDTH, HEIGHT)
    assert worldmap.project(0, 0) == (1800, 840)
    assert worldmap.project(*cw.PARIS) == (1823.5, 351.4)
    assert worldmap.project(-89, 190) == (WIDTH, HEIGHT)  # off the map: on its edge


def steps(d: str) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """Each ring of path data as its start and its relative steps."""
    out = []
    for start_x, start_y, body in re.findall(r"M(-?\d+) (-?\d+)l([^z]*)z", d):
        pairs = [int(n) for n in body.split()]
        out.append((int(start_x), int(start_y), list(zip(pairs[::2], pairs[1::2], strict=True))))
    return out


def test_shapes_from_topojson_shared_and_reversed_arcs() -> None:
    # Two unit squares side by side at the equator, sharing the arc along longitude 1;
    # the second walks it backwards. Not quantized: positions are (longitude, latitude).
    topology = {
        "type": "Topology",
        "arcs": [[[1, 0], [1, 1]], [[1, 1], [0, 1], [0, 0], [1, 0]], [[1, 0], [2, 0], [2, 1], [1, 1]]],
        "objects": {"countries": {"type": "GeometryCollection", "geometries": [
            {"type": "Polygon", "arcs": [[0, 1]], "id": "001"},
            {"type": "Polygon", "arcs": [[2, ~0]], "id": "002"},
            {"type": "Polygon", "arcs": [[0, 1]], "id": worldmap.ANTARCTICA},  # left out
        ]}},
    }
    svg = worldmap.shapes_svg(topology)
    assert f'viewBox="0 0 {WIDTH} {HEIGHT}"' in svg
    paths = re.findall(r'<path d="([^"]+)"/>', svg)
    assert len(paths) == 2
    [(x, y, walk)] = steps(paths[0])
    assert (x, y) == (1810, 840) and walk == [(0, -10), (-10, 0), (0, 10)]  # (1,0) up, left, down: closed by z
    [(x, y, walk)] = steps(paths[1])
    assert (x, y) == (1810, 840) and walk == [(10, 0), (0, -10), (-10, 0)]  # the shared arc reversed: back down


def test_quantized_arcs_and_a_ring_across_the_antimeridian_drawn_twice() -> None:
    # Quantized: delta-encoded integers, scaled and translated. The ring goes from 170° E
    # across 180° to 170° W (a jump of -340° in the data) and back.
    topology = {
        "type": "Topology", "transform": {"scale": [1, 1], "translate": [0, 0]},
        "arcs": [[[170, 60], [-340, 0], [0, 5], [340, 0], [0, -5]]],
        "objects": {"countries": {"type": "GeometryCollection", "geometries": [
            {"type": "MultiPolygon", "arcs": [[[0]]], "id": "643"}]}},
    }
    [d] = re.findall(r'<path d="([^"]+)"/>', worldmap.shapes_svg(topology))
    rings = steps(d)
    assert [(x, y) for x, y, _ in rings] == [(3500, 240), (3500 - WIDTH, 240)]  # a turn of the world apart
    assert rings[0][2] == rings[1][2] and rings[0][2][0] == (200, 0)  # east across 180°, not back west


def test_the_vendored_shapes_are_the_worlds_countries_in_this_projection() -> None:
    svg = worldmap.SHAPES.read_text()
    assert svg.startswith(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}"')
    assert svg.count("<path ") > 170
    assert (worldmap.SHAPES.parent / "LICENSE-world-atlas").is_file()
    assert "world-110m.svg" in (worldmap.SHAPES.parent / "README.md").read_text()


def test_dots_are_placed_by_geoip_and_one_per_place(tmp_path: Path) -> None:
    geo = GeoIP(*build_geo_dbs(tmp_path, cw.PLACES))
    try:
        drawn = worldmap.draw([
            Place("Paris, France", cw.IP_HOME, ["first"], href="/a"),
            Place("Paris, France", "198.51.100.99", ["second"], href="/b"),
            Place("Lagos, Nigeria", cw.IP_AWAY),
            Place("Nowhere", "192.0.2.1"),  # not in the databases
        ], geo)
        dots = {d.label: d for d in drawn.dots}
        assert list(dots) == ["Paris, France", "Lagos, Nigeria"] and drawn.missing == 1
        paris = dots["Paris, France"]
        assert (paris.x, paris.y) == worldmap.project(*cw.PARIS) and paris.href == "/a"
        assert paris.title == "Paris, France; first; second"
        assert drawn.labelled and not paris.label_end
        # Journeys: an arrow from each start to its end, the way back bending the other way.
        there, back = worldmap.journeys([
            (Place("Paris, France", cw.IP_HOME), Place("Lagos, Nigeria", cw.IP_AWAY), "1. there"),
            (Place("Lagos, Nigeria", cw.IP_AWAY), Place("Paris, France", cw.IP_HOME), "2. back"),
        ], geo).lines
        lagos = worldmap.project(*cw.LAGOS)
        assert there.path.startswith(f"M{paris.x:g} {paris.y:g}Q") and there.path.endswith(f"{lagos[0]:g} {lagos[1]:g}")
        assert (there.number, back.number, there.title) == (1, 2, "1. there")
        assert there.label_x > paris.x > back.label_x  # southward, its left is east; northward, west
        assert worldmap.journeys([(Place("Paris, France", cw.IP_HOME), Place("Paris, France", cw.IP_HOME), "")],
                                 geo).lines == []
    finally:
        geo.close()
    assert worldmap.draw([Place("Paris, France", cw.IP_HOME)], None).missing == 1
