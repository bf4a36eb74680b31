"""The world map of the console's places: country shapes drawn once into a vendored SVG, and
the dots of places (and lines between two of them) that a page draws over it.

    countries-110m.json ──build()──▶ static/vendor/world-110m.svg    (once, when updating world-atlas)
    (lat, lon) ──project()──▶ (x, y) in the same viewBox ──▶ <circle>s and <line>s in the page's <svg>

One equirectangular projection for both: x is the longitude, y the latitude down from 84° N,
both in tenths of a degree, so the shapes' coordinates are integers; latitudes south of 60° S
(Antarctica, where no address is) are left out. A page's map is an inline ``<svg>`` whose first
element is the shapes as an ``<image>`` (one cached file, no markup built from text), so it is
drawn without JavaScript; every dot has a ``<title>`` and the table under the map lists the
same places.

To rebuild the shapes (see static/vendor/README.md)::

    python -m gumshoe.console.worldmap package/countries-110m.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gumshoe.investigate.geo import GeoIP

NORTH, SOUTH = 84.0, -60.0  # the latitudes drawn (Natural Earth's land reaches 83.6° N)
SCALE = 10  # units per degree
WIDTH, HEIGHT = 360 * SCALE, int((NORTH - SOUTH) * SCALE)
SHAPES = Path(__file__).resolve().parent / "static" / "vendor" / "world-110m.svg"
SHAPES_NAME = "vendor/world-110m.svg"  # its name among the static files
ANTARCTICA = "010"  # ISO 3166-1 numeric, world-atlas's geometry id


def project(latitude: float, longitude: float) -> tuple[float, float]:
    """(x, y) of a place in the map's viewBox; latitudes outside the map sit on its edge."""
    lat = min(NORTH, max(SOUTH, latitude))
    lon = min(180.0, max(-180.0, longitude))
    return round((lon + 180.0) * SCALE, 1), round((NORTH - lat) * SCALE, 1)


@dataclass
class Dot:
    """One place on the map: where, what its title says, and the profile it links to."""

    x: float
    y: float
    label: str  # the place, e.g. "Paris, France"
    details: list[str] = field(default_factory=list)  # what was seen there (addresses, times)
    href: str | None = None

    @property
    def title(self) -> str:
        return "; ".join([self.label, *self.details])

    @property
    def label_end(self) -> bool:
        """Whether its label stands left of it (near the map's right edge)."""
        return self.x > WIDTH * 0.75


@dataclass
class Line:
    """A journey between two places (impossible travel): a curve with an arrow from the first
    to the second, bent to its left so that the way back is a curve of its own, and its number
    at the middle of the curve."""

    path: str  # SVG path data
    number: int
    label_x: float
    label_y: float
    title: str


def curve(x1: float, y1: float, x2: float, y2: float, number: int, title: str) -> Line:
    """The Line from (x1, y1) to (x2, y2): a quadratic curve whose control point stands off the
    middle of the straight line, at a fifth of its length to the left of the way."""
    dx, dy = x2 - x1, y2 - y1
    length = max(1.0, (dx * dx + dy * dy) ** 0.5)
    bend = max(40.0, length / 5)
    cx, cy = (x1 + x2) / 2 + dy / length * bend, (y1 + y2) / 2 - dx / length * bend
    mid_x, mid_y = 0.25 * x1 + 0.5 * cx + 0.25 * x2, 0.25 * y1 + 0.5 * cy + 0.25 * y2
    return Line(f"M{x1:g} {y1:g}Q{cx:.1f} {cy:.1f} {x2:g} {y2:g}", number, round(mid_x, 1), round(mid_y, 1), title)


@dataclass
class Map:
    dots: list[Dot] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    missing: int = 0  # places that could not be placed (no coordinates)
    width: int = WIDTH
    height: int = HEIGHT
    shapes: str = SHAPES_NAME
    radius: int = 24
    labelled_at_most: int = 6  # dots named on the map itself (more would cover each other)

    @property
    def labelled(self) -> bool:
        return 0 < len(self.dots) <= self.labelled_at_most


def coordinates(geo: GeoIP | None, ips: Iterable[str]) -> dict[str, tuple[float, float]]:
    """(latitude, longitude) of each address the GeoIP City database places (cached lookups)."""
    if geo is None or not geo.has_city:
        return {}
    out = {}
    for ip in ips:
        place = geo.place(ip)
        if place is not None and place.latitude is not None and place.longitude is not None:
            out[ip] = (place.latitude, place.longitude)
    return out


@dataclass(frozen=True)
class Place:
    """A place to draw: its label, the address that locates it, what its title adds, its link."""

    label: str
    ip: str
    details: Sequence[str] = ()
    href: str | None = None


def draw(places: Iterable[Place], geo: GeoIP | None) -> Map:
    """The dots of ``places``, one per place label: the first address of a place locates it,
    the details of all its entries are its title, and it links where its first entry does.
    Places without coordinates are counted in ``missing``."""
    wanted = list(places)
    where = coordinates(geo, {p.ip for p in wanted})
    dots: dict[str, Dot] = {}
    missing: set[str] = set()
    for place in wanted:
        if place.label in dots:
            dots[place.label].details.extend(place.details)
        elif place.label not in missing:
            if place.ip in where:
                x, y = project(*where[place.ip])
                dots[place.label] = Dot(x, y, place.label, list(place.details), place.href)
            else:
                missing.add(place.label)
    return Map(dots=list(dots.values()), missing=len(missing))


def journeys(pairs: Sequence[tuple[Place, Place, str]], geo: GeoIP | None) -> Map:
    """Journeys from a place to another, numbered from 1 in their order: the places as dots
    (one per place, whichever journeys it is in) and a curve with an arrow for each journey
    whose two places can be placed."""
    drawn = draw([place for start, end, _ in pairs for place in (start, end)], geo)
    at = {d.label: d for d in drawn.dots}
    for number, (start, end, title) in enumerate(pairs, 1):
        a, b = at.get(start.label), at.get(end.label)
        if a is not None and b is not None and (a.x, a.y) != (b.x, b.y):
            drawn.lines.append(curve(a.x, a.y, b.x, b.y, number, title))
    return drawn


# --- the shapes, built once from world-atlas's TopoJSON -------------------------------------


def _arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """The topology's arcs as (longitude, latitude) points (delta-decoded, untransformed)."""
    scale = topology.get("transform", {}).get("scale", [1, 1])
    translate = topology.get("transform", {}).get("translate", [0, 0])
    quantized = "transform" in topology
    out = []
    for arc in topology["arcs"]:
        x = y = 0.0
        points = []
        for position in arc:
            if quantized:
                x += position[0]
                y += position[1]
                points.append((x * scale[0] + translate[0], y * scale[1] + translate[1]))
            else:
                points.append((float(position[0]), float(position[1])))
        out.append(points)
    return out


def _ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """A ring's points from its arcs (a negative index ~i is arc i reversed); each arc after
    the first starts where the previous ended, so its first point is left out."""
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def _unwrapped(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A ring whose longitudes never jump by more than 180° (one that crosses the antimeridian
    goes on past ±180 instead of back across the map)."""
    out: list[tuple[float, float]] = []
    for lon, lat in ring:
        if out:
            previous = out[-1][0]
            while lon - previous > 180:
                lon -= 360
            while lon - previous < -180:
                lon += 360
        out.append((lon, lat))
    return out


def _path(rings: Iterable[list[tuple[float, float]]]) -> str:
    """SVG path data: absolute moves, then relative integer steps (``l``), closed rings. A
    ring that crosses the antimeridian is drawn twice, a turn of the world apart: the map's
    edges cut each copy where the other one goes on."""
    parts = []
    for ring in rings:
        points = _unwrapped(ring)
        projected = [(round((lon + 180.0) * SCALE), round((NORTH - min(NORTH, max(SOUTH, lat))) * SCALE))
                     for lon, lat in points]
        if len(projected) > 1 and projected[-1] == projected[0]:
            projected.pop()  # a ring ends where it began: "z" draws that step
        steps: list[str] = []
        px, py = projected[0]
        for x, y in projected[1:]:
            if (x, y) != (px, py):
                steps.append(f"{x - px} {y - py}")
                px, py = x, y
        if len(steps) < 2:
            continue
        body = "l" + " ".join(steps) + "z"
        lons = [lon for lon, _ in points]
        x0, y0 = projected[0]
        for shift in (0, *((-WIDTH,) if max(lons) > 180 else ()), *((WIDTH,) if min(lons) < -180 else ())):
            parts.append(f"M{x0 + shift} {y0}" + body)
    return "".join(parts)


def shapes_svg(topology: dict[str, Any], object_name: str = "countries") -> str:
    """The countries of a TopoJSON topology as one SVG document in the map's projection."""
    arcs = _arcs(topology)
    paths = []
    for geometry in topology["objects"][object_name]["geometries"]:
        if str(geometry.get("id", "")) == ANTARCTICA:
            continue
        kind, rings = geometry.get("type"), geometry.get("arcs") or []
        polygons = [rings] if kind == "Polygon" else rings if kind == "MultiPolygon" else []
        d = "".join(_path(_ring(ring, arcs) for ring in polygon) for polygon in polygons)
        if d:
            paths.append(f'<path d="{d}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}">\n<g fill="#cfd8e3" stroke="#ffffff" stroke-width="3" stroke-linejoin="round">\n'
            + "\n".join(paths) + "\n</g>\n</svg>\n")


def build(source: Path, target: Path = SHAPES) -> int:
    """Write the map's shapes from world-atlas's ``countries-110m.json``; returns the count."""
    text = shapes_svg(json.loads(source.read_text()))
    target.write_text(text)
    return text.count("<path ")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m gumshoe.console.worldmap path/to/countries-110m.json")
    print(f"{build(Path(sys.argv[1]))} countries written to {SHAPES}")
