"""The hold of a data directory (cli/datadir.py): one holder at a time, the second told who
has it and what to do; let go when closed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gumshoe.cli.datadir import LOCK_NAME, DataDirInUse, hold


def test_two_ingests_of_one_data_directory_cannot_collide(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = hold(data, "ingest")
    assert first is not None
    assert json.loads((data / LOCK_NAME).read_text()) == {"pid": os.getpid(), "role": "ingest", "url": ""}
    with pytest.raises(DataDirInUse) as second:
        hold(data, "ingest")
    assert (f"{data.resolve()} is in use by another `gumshoe ingest --data-dir` (pid {os.getpid()}): wait for it to "
            "end") in str(second.value)
    with pytest.raises(DataDirInUse, match="wait for it to end, then start the server"):
        hold(data, "server", "http://127.0.0.1:4599")
    first.close()
    again = hold(data, "server", "http://127.0.0.1:4599")  # let go: free again
    assert again is not None
    with pytest.raises(DataDirInUse) as ingest:
        hold(data, "ingest")
    assert f"pid {os.getpid()}" in str(ingest.value)
    assert "`gumshoe ingest --endpoint-url http://127.0.0.1:4599 PATH` instead" in str(ingest.value)
    again.close()


def test_a_lock_file_of_no_holder_holds_nothing(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text('{"pid": 1, "role": "server", "url": "http://127.0.0.1:1"}\n')
    held = hold(tmp_path, "ingest")  # left by a server killed with -9: nobody holds the flock
    assert held is not None
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    held.close()
