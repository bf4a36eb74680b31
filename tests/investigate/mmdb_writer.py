r"""A small writer of MaxMind DB v2 files, for test fixtures only.

Spec: https://maxmind.github.io/MaxMind-DB/

    +----------------------+---------------+--------------+--------------------------+
    | search tree          | 16 zero bytes | data section | \xab\xcd\xefMaxMind.com  |
    | node_count * 8 bytes | (separator)   | records      | then the metadata map    |
    +----------------------+---------------+--------------+--------------------------+

Records are 32 bits, so a node is two big-endian uint32s (left = bit 0, right = bit 1).
A record below node_count is a node, equal to node_count is "no data", and above it
points into the data section at ``record - node_count - 16``. IPv4 networks sit in an
IPv6 tree at ``::a.b.c.d`` (the spec's IPv4 subtree), as in MaxMind's own databases.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD_SIZE = 32
METADATA_START_MARKER = b"\xab\xcd\xefMaxMind.com"
DATA_SECTION_SEPARATOR = b"\x00" * 16
IPV4_SUBTREE_PREFIX = 96  # ::a.b.c.d/96+n, the spec's IPv4 subtree

# Data types from the spec's "Output Data Section"; 8 and above are "extended".
_POINTER, _UTF8, _DOUBLE, _BYTES, _UINT16, _UINT32, _MAP = 1, 2, 3, 4, 5, 6, 7
_INT32, _UINT64, _UINT128, _ARRAY, _BOOLEAN = 8, 9, 10, 11, 14
_UINT_BYTES = {_UINT16: 2, _UINT32: 4, _UINT64: 8, _UINT128: 16}  # smallest first


@dataclass(frozen=True)
class _Uint:
    """An unsigned int pinned to one width; libmaxminddb insists on them in metadata."""

    type_num: int
    value: int


@dataclass
class _Node:
    left: _Tree
    right: _Tree


# A subtree is a node, a data-section offset, or None for "no data".
_Tree = _Node | int | None


def write_mmdb(
    path: Path, records: dict[str, dict[str, Any]], *, database_type: str, ip_version: int = 6
) -> None:
    """Write ``records`` (CIDR or single IP -> record) to ``path`` as a MaxMind DB.

    Where networks overlap, the more specific one wins. The file is replaced atomically,
    as geoipupdate does, so a reader that has the old file mapped is not disturbed.
    """
    if ip_version not in (4, 6):
        raise ValueError(f"ip_version must be 4 or 6, not {ip_version}")
    data = bytearray()
    offsets: dict[bytes, int] = {}
    tree: _Tree = None
    width = 32 if ip_version == 4 else 128
    for prefix, address, record in sorted(_prefixes(records, ip_version), key=lambda p: p[0]):
        encoded = encode(record)
        if encoded not in offsets:
            offsets[encoded] = len(data)
            data += encoded
        tree = _insert(tree, address, prefix, offsets[encoded], width)
    if not isinstance(tree, _Node):  # the root must be a node, even for ::/0 or no data
        tree = _Node(tree, tree)
    search_tree, node_count = _serialize_tree(tree)
    metadata = {
        "node_count": _Uint(_UINT32, node_count),
        "record_size": _Uint(_UINT16, RECORD_SIZE),
        "ip_version": _Uint(_UINT16, ip_version),
        "database_type": database_type,
        "languages": ["en"],
        "binary_format_major_version": _Uint(_UINT16, 2),
        "binary_format_minor_version": _Uint(_UINT16, 0),
        "build_epoch": _Uint(_UINT64, int(time.time())),
        "description": {"en": f"{database_type} test fixture written by gumshoe"},
    }
    blob = search_tree + DATA_SECTION_SEPARATOR + data + METADATA_START_MARKER + encode(metadata)
    _write_atomically(Path(path), bytes(blob))


def encode(value: object) -> bytes:
    """Encode one value in the data section format (no pointers)."""
    if isinstance(value, bool):  # before int: bool is an int
        return _control(_BOOLEAN, int(value))
    if isinstance(value, int):
        return _encode_int(value)
    if isinstance(value, _Uint):
        # The spec lets unsigned ints drop leading zero bytes; 0 is zero bytes long.
        raw = value.value.to_bytes(_UINT_BYTES[value.type_num], "big").lstrip(b"\x00")
        return _control(value.type_num, len(raw)) + raw
    if isinstance(value, float):
        return _control(_DOUBLE, 8) + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(_UTF8, len(raw)) + raw
    if isinstance(value, bytes):
        return _control(_BYTES, len(value)) + value
    if isinstance(value, dict):
        pairs = b"".join(encode(str(k)) + encode(v) for k, v in value.items())
        return _control(_MAP, len(value)) + pairs
    if isinstance(value, list | tuple):
        return _control(_ARRAY, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__} in a MaxMind DB")


def city_record(
    city: str, country: str, country_code: str, lat: float, lon: float, region: str = ""
) -> dict[str, Any]:
    """A record shaped like GeoLite2-City's (a subset of its keys)."""
    record: dict[str, Any] = {
        "city": {"names": {"en": city}},
        "country": {"iso_code": country_code, "names": {"en": country}},
        "location": {"latitude": float(lat), "longitude": float(lon), "accuracy_radius": 50},
    }
    if region:
        record["subdivisions"] = [{"names": {"en": region}}]
    return record


def asn_record(asn: int, org: str) -> dict[str, Any]:
    """A record shaped like GeoLite2-ASN's (and DB-IP ASN lite's)."""
    return {"autonomous_system_number": asn, "autonomous_system_organization": org}


def build_geo_dbs(
    dir: Path, table: dict[str, tuple[str, str, str, float, float, int, str]]
) -> tuple[Path, Path]:
    """Write ``city.mmdb`` and ``asn.mmdb`` in ``dir`` from one table; return their paths.

    ``table`` maps IP or CIDR -> (city, country, country_code, lat, lon, asn, aso_org).
    """
    city_path, asn_path = Path(dir) / "city.mmdb", Path(dir) / "asn.mmdb"
    write_mmdb(
        city_path,
        {net: city_record(*row[:5]) for net, row in table.items()},
        database_type="GeoLite2-City",
    )
    write_mmdb(
        asn_path,
        {net: asn_record(row[5], row[6]) for net, row in table.items()},
        database_type="GeoLite2-ASN",
    )
    return city_path, asn_path


def _prefixes(
    records: dict[str, dict[str, Any]], ip_version: int
) -> list[tuple[int, int, dict[str, Any]]]:
    """(prefix length in the tree, network address as an int, record) for each key."""
    out = []
    for key, record in records.items():
        network = ipaddress.ip_network(key)  # strict: host bits set is a fixture mistake
        if network.version == 6 and ip_version == 4:
            raise ValueError(f"{key} is IPv6 but the database is ip_version=4")
        prefix = network.prefixlen
        if network.version == 4 and ip_version == 6:
            prefix += IPV4_SUBTREE_PREFIX  # int(a.b.c.d) is already the int of ::a.b.c.d
        out.append((prefix, int(network.network_address), record))
    return out


def _insert(
    tree: _Tree, address: int, prefix: int, offset: int, width: int, depth: int = 0
) -> _Tree:
    if depth == prefix:
        return offset  # replaces any less specific data; more specific ones come later
    if not isinstance(tree, _Node):
        tree = _Node(tree, tree)  # split a leaf so its data still covers the other half
    if (address >> (width - 1 - depth)) & 1:
        tree.right = _insert(tree.right, address, prefix, offset, width, depth + 1)
    else:
        tree.left = _insert(tree.left, address, prefix, offset, width, depth + 1)
    return tree


def _serialize_tree(root: _Node) -> tuple[bytes, int]:
    """The search tree bytes and its node count; nodes are numbered breadth first."""
    nodes = [root]
    for node in nodes:  # grows while iterating: a breadth-first walk
        nodes.extend(child for child in (node.left, node.right) if isinstance(child, _Node))
    number = {id(node): i for i, node in enumerate(nodes)}
    node_count = len(nodes)

    def record(child: _Tree) -> int:
        if isinstance(child, _Node):
            return number[id(child)]
        if child is None:
            return node_count
        return node_count + len(DATA_SECTION_SEPARATOR) + child

    tree = b"".join(struct.pack(">II", record(n.left), record(n.right)) for n in nodes)
    return tree, node_count


def _control(type_num: int, size: int) -> bytes:
    """A control byte, then the extended type byte if any, then size bytes if any."""
    if size < 29:
        size_bits, extra = size, b""
    elif size < 285:
        size_bits, extra = 29, bytes([size - 29])
    elif size < 65_821:
        size_bits, extra = 30, (size - 285).to_bytes(2, "big")
    elif size < 16_843_037:
        size_bits, extra = 31, (size - 65_821).to_bytes(3, "big")
    else:
        raise ValueError(f"value of size {size} is too large for a MaxMind DB")
    if type_num <= 7:
        return bytes([type_num << 5 | size_bits]) + extra
    return bytes([size_bits, type_num - 7]) + extra


def _encode_int(value: int) -> bytes:
    if value < 0:
        if value < -(2**31):
            raise ValueError(f"{value} does not fit a MaxMind DB int32")
        return _control(_INT32, 4) + value.to_bytes(4, "big", signed=True)
    for type_num, width in _UINT_BYTES.items():
        if value < 1 << (8 * width):
            return encode(_Uint(type_num, value))
    raise ValueError(f"{value} does not fit a MaxMind DB uint128")


def _write_atomically(path: Path, blob: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
