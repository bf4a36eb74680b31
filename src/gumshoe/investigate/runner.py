"""Runs investigations in the background, durably.

The investigations row is the job: StartInvestigation commits it as RUNNING, and the runner
thread takes RUNNING rows in creation order. Each run first counts an attempt (committed), then
analyses the graph outside any control-store transaction, then writes the indicators, the
severity and SUCCESSFUL in one transaction. A server killed mid-run finds the row RUNNING on
its next start and runs it again; after MAX_ATTEMPTS interrupted runs the investigation is
FAILED with a reason, so none stays RUNNING forever. An analysis that raises is FAILED at once
with the error as its reason.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update

from gumshoe.clock import now_ms
from gumshoe.graph.stores import GraphStores
from gumshoe.investigate.engine import Investigator
from gumshoe.investigate.evidence import Subject
from gumshoe.investigate.located import add_located, api_event_rows, is_located, mark_located, missing_addresses
from gumshoe.store.db import ControlStore
from gumshoe.store.schema import graphs, investigation_indicators, investigations

log = logging.getLogger("gumshoe.investigate")

MAX_ATTEMPTS = 3
LOCATE_BATCH = 200_000  # addresses found missing by one scan of a graph's events
LOCATE_CHUNK = 20_000  # addresses looked up, then stored, at a time


class InvestigationRunner:
    def __init__(self, store: ControlStore, graph_stores: GraphStores, investigator: Investigator) -> None:
        self.store = store
        self.graph_stores = graph_stores
        self.investigator = investigator
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # True from start-up until every graph's addresses are geolocated.
        self.locating = investigator.geo is not None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gumshoe-investigations", daemon=True)
        self._thread.start()
        self._wake.set()  # RUNNING rows left by a previous process

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(5.0)
            self._wake.clear()
            try:
                self.run_pending()
                if self.locate_step():
                    self._wake.set()  # more to do, after any investigation started meanwhile
            except Exception:
                log.exception("investigation runner pass failed; retrying on the next wake-up")

    def locate_step(self) -> bool:
        """Between investigations: geolocate a batch of the addresses that loads brought into a
        graph, so that investigations find them looked up already. True while a graph has more
        to do. The store is held only to find the addresses and to store each chunk's places.

        Investigations started meanwhile wait for the batch (a few seconds at most)."""
        geo = self.investigator.geo
        if geo is None:
            return False
        with self.store.read() as conn:
            arns = [arn for (arn,) in conn.execute(select(graphs.c.arn))]
        for arn in arns:
            store = self.graph_stores.opened(arn)
            if store is None and self.graph_stores.path(arn).exists():
                store = self.graph_stores.get(arn)  # loaded by an earlier process
            if store is None:
                continue
            with store.cursor() as main, main.cursor() as cursor:
                if is_located(cursor, geo):
                    continue
                rows = api_event_rows(cursor)
                missing = missing_addresses(cursor, geo, limit=LOCATE_BATCH)
            # Looked up without holding the store (loads and queries go on), stored in chunks.
            for start in range(0, len(missing), LOCATE_CHUNK):
                chunk = missing[start:start + LOCATE_CHUNK]
                found = geo.locate_many(chunk)
                with store.writing() as main, main.cursor() as cursor:
                    add_located(cursor, geo, chunk, found)
                if self._stop.is_set():
                    return False
            if len(missing) < LOCATE_BATCH:
                with store.writing() as main, main.cursor() as cursor:
                    mark_located(cursor, geo, rows)
            if missing:
                log.info("geolocated %d addresses of %s", len(missing), arn)
                self.locating = True
                return True
        self.locating = False
        return False

    # --- work ------------------------------------------------------------------------

    def run_pending(self) -> int:
        """Run every RUNNING investigation, oldest first; returns how many finished."""
        done = 0
        while not self._stop.is_set():
            with self.store.read() as conn:
                row = conn.execute(
                    select(investigations).where(investigations.c.status == "RUNNING")
                    .order_by(investigations.c.created_ms, investigations.c.investigation_id).limit(1)
                ).first()
            if row is None:
                return done
            self.run_one(row)
            done += 1
        return done

    def run_one(self, row: Any) -> None:
        investigation_id = row.investigation_id
        if row.attempts >= MAX_ATTEMPTS:
            self._fail(investigation_id, f"The analysis was interrupted {row.attempts} times (the server stopped "
                                         "while it ran); start a new investigation to try again.")
            return
        with self.store.write() as conn:
            conn.execute(update(investigations).where(investigations.c.investigation_id == investigation_id)
                         .values(attempts=investigations.c.attempts + 1))
            alive = conn.execute(select(graphs.c.arn).where(graphs.c.arn == row.graph_arn)).scalar()
        if alive is None:
            return  # DeleteGraph removed the graph and its investigations
        account_id = row.entity_arn.split(":")[4]
        subject = Subject(row.entity_arn, row.entity_type, account_id)
        started = time.perf_counter()
        try:
            result = self.investigator.investigate(
                self.graph_stores.get(row.graph_arn), subject, row.scope_start_ms, row.scope_end_ms, row.graph_arn
            )
        except Exception as exc:
            log.exception("investigation %s of %s failed", investigation_id, row.entity_arn)
            self._fail(investigation_id, f"The analysis failed: {exc}")
            return
        with self.store.write() as conn:
            still = conn.execute(select(investigations.c.status).where(
                investigations.c.investigation_id == investigation_id)).scalar()
            if still != "RUNNING":
                return
            conn.execute(delete(investigation_indicators).where(
                investigation_indicators.c.investigation_id == investigation_id))
            if result.indicators:
                conn.execute(insert(investigation_indicators), [
                    {"investigation_id": investigation_id, "seq": seq, "indicator_type": ind.type,
                     "detail": orjson.dumps(ind.wire()["IndicatorDetail"]).decode(),
                     "evidence": orjson.dumps(ind.evidence).decode()}
                    for seq, ind in enumerate(result.indicators)
                ])
            conn.execute(update(investigations).where(investigations.c.investigation_id == investigation_id).values(
                status="SUCCESSFUL", severity=result.severity, finished_ms=now_ms(),
                notes=orjson.dumps(result.notes).decode(), scoring=orjson.dumps(result.why).decode(), reason=None,
            ))
        log.info("investigation %s of %s: %s (score %d), %d indicators, %.0f ms", investigation_id, row.entity_arn,
                 result.severity, result.score, len(result.indicators), (time.perf_counter() - started) * 1000)

    def _fail(self, investigation_id: str, reason: str) -> None:
        with self.store.write() as conn:
            conn.execute(update(investigations).where(
                investigations.c.investigation_id == investigation_id, investigations.c.status == "RUNNING",
            ).values(status="FAILED", finished_ms=now_ms(), reason=reason))
