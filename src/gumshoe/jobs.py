"""Durable background jobs: recorded in the control store with the change that needs them.

A job is enqueued in the same transaction as the state change that calls for it, so a
crash can never keep one without the other. The runner takes due jobs in order, runs each
in its own transaction and deletes it in that transaction: a job's effect happens once.
A failing job is retried with backoff and its error kept on the row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from gumshoe.clock import now_ms
from gumshoe.store.db import ControlStore
from gumshoe.store.schema import jobs

log = logging.getLogger("gumshoe.jobs")

Handler = Callable[[Connection, dict[str, Any], int], None]
MAX_BACKOFF_MS = 600_000


def enqueue(conn: Connection, kind: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
    enqueue_many(conn, kind, [payload], delay=delay)


def enqueue_many(conn: Connection, kind: str, payloads: list[dict[str, Any]], *, delay: float = 0.0) -> None:
    if not payloads:
        return
    due = now_ms() + int(delay * 1000)
    conn.execute(
        insert(jobs),
        [{"kind": kind, "payload": orjson.dumps(p).decode(), "due_ms": due, "attempts": 0} for p in payloads],
    )


class JobRunner:
    def __init__(self, store: ControlStore) -> None:
        self.store = store
        self.handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def next_due_ms(self) -> int | None:
        with self.store.read() as conn:
            value = conn.execute(select(jobs.c.due_ms).order_by(jobs.c.due_ms).limit(1)).scalar()
        return int(value) if value is not None else None

    def run_due(self, limit: int = 500) -> int:
        """Run the jobs that are due now, in one transaction; returns how many ran.

        Each job runs in its own savepoint: a failing job rolls back alone and is put back
        with a later due time, while the others commit.
        """
        ran = 0
        cutoff = now_ms()
        with self.store.write() as conn:
            due = conn.execute(
                select(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts)
                .where(jobs.c.due_ms <= cutoff)
                .order_by(jobs.c.due_ms, jobs.c.id)
                .limit(limit)
            ).all()
            for job_id, kind, payload, attempts in due:
                handler = self.handlers.get(kind)
                try:
                    with conn.begin_nested():
                        conn.execute(delete(jobs).where(jobs.c.id == job_id))
                        if handler is None:
                            raise LookupError(f"no handler for job kind {kind!r}")
                        handler(conn, orjson.loads(payload), now_ms())
                    ran += 1
                except Exception as exc:  # a job's failure must not stop the others
                    log.exception("job failed id=%s kind=%s attempts=%s", job_id, kind, attempts + 1)
                    backoff = min(MAX_BACKOFF_MS, 1000 * 2 ** min(attempts, 10))
                    conn.execute(
                        update(jobs)
                        .where(jobs.c.id == job_id)
                        .values(due_ms=now_ms() + backoff, attempts=attempts + 1, last_error=repr(exc)[:2000])
                    )
        return ran

    def pending(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(jobs)).scalar_one())

