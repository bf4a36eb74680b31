"""The server's watch over its sources: a thread that ingests new objects every poll interval."""

from __future__ import annotations

import logging
import threading

from gumshoe.ingest.pipeline import Ingestor

log = logging.getLogger("gumshoe.watch")
SETTLE_SECONDS = 2.0


class SourceWatcher:
    def __init__(self, ingestor: Ingestor, sources: tuple[str, ...], interval: float) -> None:
        self.ingestor = ingestor
        self.sources = sources
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.sources or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="gumshoe-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def poll_once(self) -> None:
        # A file modified in the last seconds may still be being copied in: the next scan takes it.
        summary = self.ingestor.run(self.sources, settle_seconds=SETTLE_SECONDS)
        if summary.objects:
            events = sum(t.events for t in summary.tallies.values())
            loaded = sum(summary.graphs.values())
            log.info("read objects=%d events=%d, loaded into graphs=%d (events=%d) from sources=%s",
                     summary.objects, events, len(summary.graphs), loaded, ",".join(self.sources))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a missing folder or an unreachable bucket: say so, try again later
                log.exception("source scan failed; retrying in %.0f s", self.interval)
            self._stop.wait(self.interval)
