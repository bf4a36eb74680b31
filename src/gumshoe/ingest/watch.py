"""The server's watch over its sources: a thread that ingests new objects every poll interval.
A reload of the config file may change the sources and the interval while it runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from gumshoe.ingest.growing import TAIL_SETTLE_SECONDS
from gumshoe.ingest.pipeline import Ingestor

log = logging.getLogger("gumshoe.watch")
# A file changed in the last seconds may still be being written: only its complete lines
# are read (a line file), or it waits for a later scan (a gzip file, a JSON document).
SETTLE_SECONDS = 2.0


class SourceWatcher:
    def __init__(self, ingestor: Ingestor, sources: tuple[str, ...], interval: float) -> None:
        self.ingestor = ingestor
        self.sources = sources
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.scans = 0  # scans finished (failed ones too): health shows it, tests wait on it

    def start(self) -> None:
        if not self.sources or self._thread is not None or self._stop.is_set():
            return
        self._thread = threading.Thread(target=self._run, name="gumshoe-watch", daemon=True)
        self._thread.start()

    def update(self, sources: Iterable[str], interval: float) -> None:
        """Watch these sources every ``interval`` seconds from now on; a scan starts at once."""
        sources = tuple(sources)
        if (sources, interval) != (self.sources, self.interval):
            log.info("watching sources=%s every %.3g s", ",".join(sources) or "-", interval)
        self.sources, self.interval = sources, interval
        self._wake.set()
        self.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def poll_once(self) -> None:
        sources = self.sources
        summary = self.ingestor.run(sources, settle_seconds=SETTLE_SECONDS, tail_settle_seconds=TAIL_SETTLE_SECONDS)
        if summary.objects:
            events = sum(t.events for t in summary.tallies.values())
            loaded = sum(summary.graphs.values())
            log.info("read objects=%d events=%d, loaded into graphs=%d (events=%d) from sources=%s",
                     summary.objects, events, len(summary.graphs), loaded, ",".join(sources))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.poll_once()
            except Exception:  # a missing folder or an unreachable bucket: say so, try again later
                log.exception("source scan failed; retrying in %.0f s", self.interval)
            self.scans += 1
            self._wake.wait(self.interval)
