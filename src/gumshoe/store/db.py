"""The control store: one engine, a long-lived read connection and one writer.

SQLite (the embedded default) runs in WAL mode; write transactions start with
``BEGIN IMMEDIATE`` so that two writers never deadlock on a lock upgrade, and every
operation is one transaction. The same code runs on PostgreSQL, where state transitions
rely on conditional UPDATEs (``WHERE status = ...``) rather than on the single writer.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlalchemy.engine import make_url

from gumshoe.store.migrations import migrate
from gumshoe.store.queries import Snapshot, SqlAlchemySnapshot, SqliteSnapshot
from gumshoe.store.schema import SCHEMA_VERSION, SQLITE_TRIGGERS, meta, metadata


class ControlStore:
    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        if self.is_sqlite:
            self._configure_sqlite(self.engine, sqlite_synchronous.upper())
        self._local = threading.local()
        self._write_lock = threading.RLock()
        metadata.create_all(self.engine)
        migrate(self.engine)
        with self.write() as conn:
            if self.is_sqlite:
                for statement in SQLITE_TRIGGERS:
                    conn.exec_driver_sql(statement)
            row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
            if row is None:
                conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                conn.execute(insert(meta).values(key="token_secret", value=secrets.token_hex(32)))
            self.token_secret = bytes.fromhex(
                conn.execute(select(meta.c.value).where(meta.c.key == "token_secret")).scalar_one()
            )

    @staticmethod
    def _configure_sqlite(engine: Engine, synchronous: str) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event decide how a transaction starts.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                return
            mode = conn.get_execution_options().get("gumshoe_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

    def _reader(self) -> Connection:
        conn: Connection | None = getattr(self._local, "reader", None)
        if conn is None or conn.closed:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._local.reader = conn
        return conn

    def _raw(self) -> Any:
        """This thread's DBAPI connection for prepared reads."""
        raw = getattr(self._local, "raw", None)
        if raw is None:
            raw = self.engine.raw_connection()
            self._local.raw = raw
        return raw

    def data_version(self) -> tuple[int, int] | None:
        """Changes whenever any other connection, of this process or another, commits to the
        database (SQLite's PRAGMA data_version on this thread's reading connection, which never
        writes): a cheap check that an answer read earlier on this thread is still current.
        None on other databases."""
        if not self.is_sqlite:
            return None
        raw = self._raw()
        row = raw.driver_connection.execute("PRAGMA data_version").fetchone()
        return id(raw.driver_connection), int(row[0])

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (autocommit: each statement sees the latest commit)."""
        yield self._reader()

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """Prepared reads inside one read transaction (see store.queries)."""
        if not self.is_sqlite:
            with self.engine.connect() as conn, conn.begin():
                yield SqlAlchemySnapshot(conn)
            return
        raw = self._raw()
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        try:
            yield SqliteSnapshot(cursor, self.engine.dialect)
        finally:
            cursor.execute("COMMIT")
            cursor.close()

    @contextmanager
    def single(self) -> Iterator[Snapshot]:
        """Like ``snapshot`` for exactly one statement, which SQLite runs atomically on its
        own: no BEGIN and COMMIT around it (ListGraphs, the hottest read)."""
        if not self.is_sqlite:
            with self.snapshot() as snap:
                yield snap
            return
        raw = self._raw()
        cursor = raw.cursor()
        try:
            yield SqliteSnapshot(cursor, self.engine.dialect)
        finally:
            cursor.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction; committed when the block ends, rolled back on error."""
        with self._write_lock, self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(gumshoe_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def close(self) -> None:
        conn = getattr(self._local, "reader", None)
        if conn is not None:
            conn.close()
        raw = getattr(self._local, "raw", None)
        if raw is not None:
            raw.close()
        self.engine.dispose()
