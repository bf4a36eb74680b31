"""Geolocation of a graph's addresses, kept in the graph (``ip_geo``) and marked done.

The runner geolocates a graph's new addresses in the background between investigations; an
investigation looks up itself only what is still missing. ``store_meta`` marks a graph whose
every event address is in ``ip_geo`` for the GeoIP databases in use, so the account-wide
questions become joins instead of lookups.
"""

from __future__ import annotations

import zlib

import duckdb
import pyarrow as pa

from gumshoe.investigate.geo import GeoIP

# Where each address of the graph is, by the GeoIP databases' signature: looked up once per
# address and database version, so the account-wide questions are SQL over the addresses the
# account used (hundreds of thousands in a big graph), not as many lookups per investigation.
IP_GEO = "CREATE TABLE IF NOT EXISTS ip_geo (ip VARCHAR, location VARCHAR, aso VARCHAR, source VARCHAR)"


def missing_addresses(conn: duckdb.DuckDBPyConnection, geo: GeoIP, *, table: str | None = None,
                      limit: int | None = None) -> list[str]:
    """The addresses ip_geo lacks for the current GeoIP databases (at most ``limit``): those of
    ``table``'s ``ip`` column, or every source address of the graph's events."""
    source = geo.signature
    conn.execute(IP_GEO)
    conn.execute("DELETE FROM ip_geo WHERE source <> ?", [source])
    addresses = f"SELECT ip FROM {table}" if table else "SELECT DISTINCT source_ip FROM api_events WHERE source_ip <> ''"
    return [ip for (ip,) in conn.execute(
        f"SELECT * FROM ({addresses}) AS a(ip) WHERE ip NOT IN (SELECT ip FROM ip_geo WHERE source = $source)"
        + (f" LIMIT {int(limit)}" if limit else ""),
        {"source": source},
    ).fetchall()]


def add_located(conn: duckdb.DuckDBPyConnection, geo: GeoIP, addresses: list[str],
                found: list[tuple[str, str]]) -> None:
    """Store the (location, ASO) of each address, as GeoIP.locate_many gave them."""
    if not addresses:
        return
    table = pa.table({"ip": addresses, "location": [f[0] for f in found], "aso": [f[1] for f in found],
                      "source": [geo.signature] * len(addresses)})
    conn.register("new_ip_geo", table)
    try:
        conn.execute("INSERT INTO ip_geo SELECT ip, location, aso, source FROM new_ip_geo")
    finally:
        conn.unregister("new_ip_geo")


def locate_addresses(conn: duckdb.DuckDBPyConnection, geo: GeoIP, *, table: str | None = None,
                     limit: int | None = None) -> int:
    """Look up and store the addresses ip_geo lacks (missing_addresses); returns how many."""
    missing = missing_addresses(conn, geo, table=table, limit=limit)
    add_located(conn, geo, missing, geo.locate_many(missing))
    return len(missing)


def _source_key(geo: GeoIP) -> int:
    return zlib.crc32(geo.signature.encode())


def api_event_rows(conn: duckdb.DuckDBPyConnection) -> int:
    return int(conn.execute("SELECT count(*) FROM api_events").fetchone()[0])  # type: ignore[index]


def mark_located(conn: duckdb.DuckDBPyConnection, geo: GeoIP, rows: int) -> None:
    """Record that the first ``rows`` api_events (loads only append) have every address in ip_geo."""
    conn.execute("INSERT OR REPLACE INTO store_meta VALUES ('located_rows', ?), ('located_source', ?)",
                 [rows, _source_key(geo)])


def is_located(conn: duckdb.DuckDBPyConnection, geo: GeoIP) -> bool:
    """Whether every address of the graph's events is in ip_geo for these GeoIP databases."""
    meta = dict(conn.execute(
        "SELECT key, value FROM store_meta WHERE key IN ('located_rows', 'located_source')").fetchall())
    return meta.get("located_source") == _source_key(geo) and meta.get("located_rows") == api_event_rows(conn)
