"""The behavior-graph stores of a data directory: one DuckDB file per graph, opened once."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from gumshoe.graph.store import MEMORY_LIMIT, GraphStore


class GraphStores:
    """The open behavior-graph stores of a data directory, one DuckDB file per graph."""

    def __init__(self, data_dir: Path, memory_limit: str = MEMORY_LIMIT) -> None:
        self.folder = data_dir / "graphs"
        self.memory_limit = memory_limit
        self._open: dict[str, GraphStore] = {}
        self._lock = threading.Lock()

    def path(self, graph_arn: str) -> Path:
        return self.folder / f"{graph_arn.rsplit(':', 1)[-1].rsplit('/', 1)[-1]}.duckdb"

    def get(self, graph_arn: str) -> GraphStore:
        with self._lock:
            store = self._open.get(graph_arn)
            if store is None:
                store = GraphStore(self.path(graph_arn), self.memory_limit)
                self._open[graph_arn] = store
            return store

    def opened(self, graph_arn: str) -> GraphStore | None:
        with self._lock:
            return self._open.get(graph_arn)

    def drop(self, graph_arn: str) -> None:
        """DeleteGraph: close the graph's store and delete its file. A load in progress holds
        the store, so the closing waits for it in a thread of its own, off the event loop."""
        with self._lock:
            store = self._open.pop(graph_arn, None)
        paths = (self.path(graph_arn), self.path(graph_arn).with_suffix(".duckdb.wal"))
        spill = self.path(graph_arn).with_suffix(".tmp")

        def close_and_delete() -> None:
            if store is not None:
                store.close()
            for path in paths:
                path.unlink(missing_ok=True)
            shutil.rmtree(spill, ignore_errors=True)

        if store is None or store.idle():
            close_and_delete()
        else:
            threading.Thread(target=close_and_delete, name="gumshoe-graph-drop", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            stores, self._open = list(self._open.values()), {}
        for store in stores:
            store.close()
