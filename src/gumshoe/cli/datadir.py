"""Who holds a data directory: ``gumshoe serve`` for its whole life, ``gumshoe ingest
--data-dir`` for its run. One at a time: two writers of the same DuckDB and SQLite files would
wait on each other's locks, or fail half-way through a load.

The hold is an advisory ``flock`` on ``DIR/.gumshoe.lock``, which names the holder (its pid,
and a server's URL) for the message of whoever comes second. The kernel lets go of it when the
holder exits, however it exits (kill -9 too): a lock file left behind holds nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

LOCK_NAME = ".gumshoe.lock"


class DataDirInUse(Exception):
    """Another process holds the data directory: the message says which, and what to do."""

    def __init__(self, data_dir: Path, holder: dict[str, Any], wanted: str) -> None:
        self.data_dir, self.holder = data_dir, holder
        pid = f" (pid {holder['pid']})" if holder.get("pid") else ""
        url = str(holder.get("url") or "")
        if holder.get("role") == "server" and wanted == "ingest":
            endpoint = url or "URL"
            message = (f"{data_dir} is in use by a running gumshoe server{pid}: send the logs to it with "
                       f"`gumshoe ingest --endpoint-url {endpoint} PATH` instead.")
        elif holder.get("role") == "server":
            message = (f"{data_dir} is in use by a running gumshoe server{pid}{' at ' + url if url else ''}: "
                       "stop it first, or pass another --data-dir.")
        elif wanted == "ingest":
            message = (f"{data_dir} is in use by another `gumshoe ingest --data-dir`{pid}: wait for it to end, "
                       "then run this one (what it loaded is skipped).")
        else:
            message = (f"{data_dir} is in use by a `gumshoe ingest --data-dir`{pid}: wait for it to end, then "
                       "start the server.")
        super().__init__(message)


def hold(data_dir: Path, role: str, url: str = "") -> IO[str] | None:
    """Take the data directory (creating it) for ``role`` ("server" or "ingest"), or raise
    DataDirInUse. Held until the returned file is closed, or the process ends; None where
    the platform has no flock (nothing is held there)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux or macOS
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    file = (data_dir / LOCK_NAME).open("a+", encoding="utf-8")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = _holder(file.read())
        file.close()
        raise DataDirInUse(data_dir.resolve(), holder, role) from None
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "role": role, "url": url}) + "\n")
    file.flush()
    return file


def _holder(text: str) -> dict[str, Any]:
    try:
        holder = json.loads(text)
    except ValueError:
        return {}  # written a moment from now, or by something else
    return holder if isinstance(holder, dict) else {}
