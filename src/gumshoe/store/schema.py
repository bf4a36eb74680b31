"""Control-plane schema (SQLAlchemy Core). Portable: SQLite by default, PostgreSQL later.

Times are integer milliseconds since the epoch (UTC), the API's own resolution.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1

metadata = MetaData()

graphs = Table(
    "graphs",
    metadata,
    Column("arn", String(128), primary_key=True),
    Column("administrator_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("is_organization_graph", Boolean, nullable=False, default=False),
    Column("auto_enable", Boolean, nullable=False, default=False),
    UniqueConstraint("administrator_id", "region", name="one_graph_per_account_and_region"),
)

graph_tags = Table(
    "graph_tags",
    metadata,
    Column("graph_arn", String(128), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("graph_arn", String(128), primary_key=True),
    Column("account_id", String(12), primary_key=True),
    Column("administrator_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("email", String(64)),
    Column("status", String(32), nullable=False),
    Column("disabled_reason", String(32)),
    Column("invitation_type", String(16)),
    Column("invited_ms", BigInteger),
    Column("updated_ms", BigInteger, nullable=False),
    # Invitation order: automatic enabling walks disabled members in this order.
    Column("seq", BigInteger, nullable=False),
    Column("enabled_ms", BigInteger),
    Column("message", Text),
    Column("email_notification", Boolean, nullable=False, default=True),
)
Index("members_by_account", members.c.account_id, members.c.region)

# Last time each ingest state was entered, per graph (account_id '') and per member account.
ingest_history = Table(
    "ingest_history",
    metadata,
    Column("graph_arn", String(128), primary_key=True),
    Column("account_id", String(12), primary_key=True),
    Column("package", String(32), primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("changed_ms", BigInteger, nullable=False),
)

# Current ingest state per graph (account_id '') and per member account.
ingest_states = Table(
    "ingest_states",
    metadata,
    Column("graph_arn", String(128), primary_key=True),
    Column("account_id", String(12), primary_key=True),
    Column("package", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
)

# Bytes ingested per member account, day and datasource package (filled by the data plane).
volume_usage = Table(
    "volume_usage",
    metadata,
    Column("graph_arn", String(128), primary_key=True),
    Column("account_id", String(12), primary_key=True),
    Column("package", String(32), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

organization_admins = Table(
    "organization_admins",
    metadata,
    Column("region", String(32), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("graph_arn", String(128), nullable=False),
    Column("delegation_ms", BigInteger, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("due_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
)
Index("jobs_by_due", jobs.c.due_ms)

# Objects the data plane has finished, per source and version (etag, or size and mtime):
# a re-run, a restart or a watch pass skips them (docs/INGESTION.md).
ingest_objects = Table(
    "ingest_objects",
    metadata,
    Column("object_ref", String(2048), primary_key=True),
    Column("source", String(1024), nullable=False),
    Column("key", String(1024), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("rejects", BigInteger, nullable=False),
    Column("finished_ms", BigInteger, nullable=False),
    # The accounts its records belong to (comma-separated): when one of them joins a graph
    # later, the object is read again for that graph.
    Column("accounts", Text, nullable=False, default=""),
    # A part of a growing line file (ingest/growing.py) in the file's current reading: the
    # file's location, and ``size`` is the offset read through; "" for everything else.
    Column("stream", String(2048), nullable=False, default="", server_default=""),
    # Why the object could not be read at all ("" when it was): it is not read again until it
    # changes (a new version is a new object) or a reload asks for failed objects again.
    Column("failure", Text, nullable=False, default="", server_default=""),
)
Index("ingest_objects_by_stream", ingest_objects.c.stream, ingest_objects.c.size)

# The graphs that have considered an object: loaded its records (and counted their volume)
# or found none for them. A graph of the object's accounts missing here gets it on a later run.
object_graphs = Table(
    "object_graphs",
    metadata,
    Column("object_ref", String(2048), primary_key=True),
    Column("graph_arn", String(128), primary_key=True),
)

# A counter per graph that every change to what a MemberDetail shows bumps (members, ingest
# states, volume). On SQLite the triggers below keep it, whichever code or process writes, so
# readers may cache a graph's serialized members until it moves (api/_member_cache.py).
graph_revisions = Table(
    "graph_revisions",
    metadata,
    Column("graph_arn", String(128), primary_key=True),
    Column("rev", BigInteger, nullable=False),
)


def _revision_triggers() -> tuple[str, ...]:
    statements = []
    for table in ("members", "ingest_states", "volume_usage"):
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_bumps_revision AFTER {event} ON {table} "
                f"BEGIN INSERT INTO graph_revisions (graph_arn, rev) VALUES ({row}.graph_arn, 1) "
                f"ON CONFLICT (graph_arn) DO UPDATE SET rev = rev + 1; END"
            )
    return tuple(statements)


SQLITE_TRIGGERS = _revision_triggers()

# Investigations (StartInvestigation): the row is also the durable job. RUNNING rows are run by
# the investigation runner, and again after a restart until MAX_ATTEMPTS, then FAILED with a reason.
investigations = Table(
    "investigations",
    metadata,
    Column("investigation_id", String(21), primary_key=True),
    Column("graph_arn", String(128), nullable=False),
    Column("entity_arn", String(2048), nullable=False),
    Column("entity_type", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("scope_start_ms", BigInteger, nullable=False),
    Column("scope_end_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16)),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("finished_ms", BigInteger),
    # Why a run FAILED; and what it could not look at (no GeoIP database ...), as a JSON list.
    Column("reason", Text),
    Column("notes", Text, nullable=False, default="[]"),
    # How the severity was reached (investigate/scoring.py explain), for the report.
    Column("scoring", Text, nullable=False, default="{}", server_default="{}"),
)
Index("investigations_by_graph", investigations.c.graph_arn, investigations.c.created_ms)
Index("investigations_by_status", investigations.c.status)

# An investigation's indicators in report order; detail is the IndicatorDetail structure's JSON,
# evidence what the report shows beside it (times, places, distances), never on the AWS wire.
investigation_indicators = Table(
    "investigation_indicators",
    metadata,
    Column("investigation_id", String(21), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("indicator_type", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("evidence", Text, nullable=False, default="{}"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
