"""Line files that grow: read in parts, each from where the one before ended.

A plain (not gzip) file of lines (JSON lines, flow-log rows, ``<timestamp> {json}`` export
lines) that a writer keeps appending to is read in parts, never twice:

    byte 0 ──── part 1 ────┐──────── part 2 ────────┐── tail (no newline yet)
                          end 1                    end 2                  size

A part ends after the last complete line. The tail waits for its newline, or is taken once
the file has stopped changing (``TAIL_SETTLE_SECONDS`` in the server's watch, at once for
``gumshoe ingest``). Each part is an object of its own in the ledger and in the graphs:

    <location>|lines.<reading>:<start>-<end>:<fingerprint>:<mtime_ns>

The fingerprint hashes the file's first 4 KiB and the 4 KiB before ``end``: the next part
starts at ``end`` only if the file still holds those bytes. A file that does not (it was
replaced) or is smaller than ``end`` (truncated, rotated) is a new reading from byte 0:
``reading`` counts them. Gzip files and JSON documents (``{"Records": [...]}``, arrays,
pretty-printed JSON) are read whole, as objects that never change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import BinaryIO

import msgspec

from gumshoe.formats.base import Reject

HEAD_BYTES = 4096  # fingerprinted at each end of what was read
# A last line without its newline is taken once the file has not changed for this long: a
# writer that stops mid-line for longer is assumed to have finished (a file written
# without a final newline). Shorter pauses are common: block-buffered writers flush mid-line.
TAIL_SETTLE_SECONDS = 30.0
_SCAN_BYTES = 65536
_TAG = re.compile(r"lines\.(\d+):(\d+)-(\d+):([0-9a-f]+):(\d+)")
_CLOUDTRAIL_DOCUMENT = re.compile(rb'\{\s*"Records"\s*:')
_json = msgspec.json.Decoder()


@dataclass(frozen=True)
class Part:
    """Bytes [start, end) of a line file, read in its ``reading``-th reading."""

    reading: int
    start: int
    end: int
    fingerprint: str
    modified_ns: int  # the file's modification time when the part was taken
    kind: str = field(default="", compare=False)  # the reader that reads the file

    @property
    def tag(self) -> str:
        return f"lines.{self.reading}:{self.start}-{self.end}:{self.fingerprint}:{self.modified_ns}"

    @staticmethod
    def parse(ref: str, kind: str = "") -> Part | None:
        """The part an object ref names, or None when it names a whole object."""
        match = _TAG.fullmatch(ref.rpartition("|")[2])
        if match is None:
            return None
        reading, start, end, fingerprint, modified_ns = match.groups()
        return Part(int(reading), int(start), int(end), fingerprint, int(modified_ns), kind)


def prefix(location: str, reading: int, start: int) -> str:
    """What the refs of the parts of ``location`` starting at ``start`` begin with."""
    return f"{location}|lines.{reading}:{start}-"


def reads_lines(head: bytes) -> bool:
    """Whether a plain file starting with ``head`` is read line by line (and so can be read
    in parts): flow-log rows and export lines, or JSON whose first line is a whole value.
    Arrays and CloudTrail's ``{"Records": [...]}`` are documents, read whole."""
    text = head.lstrip()
    if text[:1] == b"[" or _CLOUDTRAIL_DOCUMENT.match(text):
        return False
    if text[:1] != b"{":
        return True
    lines = text.split(b"\n", 2)
    if len(lines) == 1:
        return True  # one line so far: a line, whole or not yet
    return _decodes(lines[0]) or (len(lines) == 3 and _decodes(lines[1]))


def _decodes(line: bytes) -> bool:
    try:
        _json.decode(line)
    except msgspec.DecodeError:
        return False
    except RecursionError:  # a value nested deeply, on a line of its own: a line file
        return True
    return True


def fingerprint(file: BinaryIO, end: int) -> str:
    """A hash of the first and the last (up to) 4 KiB of the file's bytes [0, end)."""
    first_end = min(end, HEAD_BYTES)
    file.seek(0)
    first = file.read(first_end)
    last_start = max(first_end, end - HEAD_BYTES)
    file.seek(last_start)
    last = file.read(end - last_start)
    return hashlib.sha256(first + b"\n" + last).hexdigest()[:16]


def last_line_end(file: BinaryIO, start: int, size: int) -> int:
    """The offset after the last newline in bytes [start, size), or ``start`` if none."""
    position = size
    while position > start:
        block_start = max(start, position - _SCAN_BYTES)
        file.seek(block_start)
        block = file.read(position - block_start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return block_start + newline + 1
        position = block_start
    return start


class Bounded:
    """The next ``size`` bytes of a stream, then end of file."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._left = size

    def read(self, size: int | None = -1, /) -> bytes:
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(wanted) if wanted else b""
        self._left -= len(data)
        return data

    def read1(self, size: int = -1, /) -> bytes:
        return self.read(size if size >= 0 else _SCAN_BYTES)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Bounded:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


_LINE = re.compile(r"line (\d+)")
_BYTE = re.compile(r"byte (\d+)")


def placed(reject: Reject, part: Part, preamble_lines: int, preamble_bytes: int) -> Reject:
    """A reject of a part that starts after byte 0, placed in the file: "line 3 from byte
    4096" (the part's third line; the preamble given back to the reader not counted)."""
    position = reject.position
    line = _LINE.match(position)
    byte = _BYTE.match(position)
    if line is not None:
        position = f"line {int(line.group(1)) - preamble_lines} from byte {part.start}{position[line.end():]}"
    elif byte is not None:
        position = f"byte {part.start + max(0, int(byte.group(1)) - preamble_bytes)}{position[byte.end():]}"
    else:
        position = f"{position} from byte {part.start}"
    return Reject(position, reject.reason, reject.raw)
