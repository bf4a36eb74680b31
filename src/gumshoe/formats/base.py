"""What every reader shares: the batch it yields, rejects, limits, line and document
splitting, and gzip errors.

A reader turns the bytes of one object (already decompressed: the source layer opens gzip
by its magic number) into batches of typed records, streaming, with bounded memory. A record
that cannot be read becomes a ``Reject`` with its position and reason; it never stops the
object. A decompression error (a truncated or corrupt gzip member) ends the object with one
reject after the records read so far, and so does an object larger, unpacked, than
``MAX_OBJECT_BYTES`` (``Limited``, applied when the source opens it).

Limits (see docs/INGESTION.md, "Unreadable records"):

    MAX_OBJECT_BYTES    256 MiB  unpacked size of one object (SourceObject.open(limit=...))
    MAX_RECORD_BYTES      8 MiB  one record: a line, or an element of a large document
    MAX_DEPTH             1000   nesting of one element of a large document
    DOCUMENT_FAST_BYTES  64 MiB  a document up to this size is read whole and decoded in one
                                 call; a larger one is split element by element (split_json)

Every record type has at least:

    account_id: str   the account that produced it (decides which graphs it enters)
    region: str       its Region ("" when the record does not say; the source path may)
    time_ms: int      when it happened, epoch milliseconds
    size: int         bytes of the raw record, for the graph's volume figures
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

R = TypeVar("R")

log = logging.getLogger(__name__)

BATCH_RECORDS = 8192  # records per batch a reader yields
REJECT_RAW_BYTES = 4096  # how much of a rejected record is kept
MAX_OBJECT_BYTES = 256 << 20  # unpacked size of one object
MAX_RECORD_BYTES = 8 << 20  # one record (a line, an element of a large document)
MAX_DEPTH = 1000  # nesting of one element of a document split by split_json
DOCUMENT_FAST_BYTES = 64 << 20  # documents up to this size are decoded whole, in one call
CHUNK_BYTES = 1 << 20  # how much is read at a time
CONTEXT_BYTES = 4096  # largest member of a split object kept as the context of its list's elements

# Datasource packages (the API's names).
DETECTIVE_CORE = "DETECTIVE_CORE"
EKS_AUDIT = "EKS_AUDIT"
ASFF_SECURITYHUB_FINDING = "ASFF_SECURITYHUB_FINDING"


def size_text(size: int) -> str:
    """``268435456`` -> ``256 MiB``; sizes that are not whole KiB or MiB in bytes."""
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return f"{size >> 10} KiB"
    return f"{size} bytes"


class ObjectTooLarge(Exception):
    """Reading past the object size limit (``Limited``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"unpacked, the object is larger than the {size_text(limit)} limit (max_object_bytes)")


# Errors a stream raises on a truncated or corrupt object, or one over the size limit.
STREAM_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, OSError, ObjectTooLarge)


def stream_reason(exc: BaseException) -> str:
    """The reject reason of a stream error (STREAM_ERRORS)."""
    if isinstance(exc, ObjectTooLarge):
        return str(exc)
    return f"the object is truncated or corrupt: {exc}"


def unreadable(exc: BaseException) -> str:
    """The reject reason of a record whose decoding or normalising raised ``exc`` (anything:
    a record never stops the object)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"cannot be read: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Limits:
    """What one record may be, and when a document is split rather than decoded whole."""

    max_record_bytes: int = MAX_RECORD_BYTES
    max_depth: int = MAX_DEPTH
    document_fast_bytes: int = DOCUMENT_FAST_BYTES
    chunk_bytes: int = CHUNK_BYTES


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Reject:
    position: str  # where in the object: "line 12", "record 3", "byte 4096"
    reason: str  # readable: what was wrong
    raw: bytes = b""  # the start of the record (up to REJECT_RAW_BYTES)


@dataclass
class Batch(Generic[R]):
    # A reader yields a batch once records + rejects reach BATCH_RECORDS.
    records: list[R] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    skipped: int = 0  # readable entries that carry nothing (flow-log NODATA rows, headers)


class Reader(Protocol[R]):
    """A reader module exposes these names (see cloudtrail.py, vpcflow.py, guardduty.py).
    A line format whose first line shapes the lines after it also has ``preamble(head) ->
    bytes``: that line, given back before a part of a growing file read from further on."""

    KIND: str  # "cloudtrail", "vpcflow", "guardduty", "eks_audit", "asff"
    PACKAGE: str  # datasource package its records count against

    def sniff(self, head: bytes, name: str) -> bool:
        """Whether the object is this reader's format, from its first decompressed bytes
        (up to 64 KiB) and its key; content decides, the key is only a hint."""
        ...

    def read(self, stream: Stream, name: str, limits: Limits | None = None) -> Iterator[Batch[R]]:
        """Batches of records and rejects, in object order (never raising: what cannot be
        read is a reject)."""
        ...


class Stream(Protocol):
    """What readers need of a stream: ``read`` (``read1`` is used when present)."""

    def read(self, size: int = -1, /) -> bytes: ...


def guarded(batches: Iterator[Batch[R]]) -> Iterator[Batch[R]]:
    """A reader's batches; an error that escaped the readers' per-record guards ends the
    object with one reject, after the batches before it, instead of failing the ingest."""
    try:
        yield from batches
    except Exception as exc:
        log.warning("a reader failed; the rest of the object is one reject", exc_info=True)
        yield Batch(rejects=[Reject("after the records read", f"the rest of the object {unreadable(exc)}")])


class Limited:
    """A stream's first ``limit`` bytes; reading on, when it has more, raises ObjectTooLarge
    (and so does every read after it)."""

    def __init__(self, stream: Stream, limit: int) -> None:
        self._stream = stream
        self._read1 = getattr(stream, "read1", None)
        self.limit = limit
        self._left = limit
        self._over = False

    def _take(self, read: object, size: int | None) -> bytes:
        if self._over:
            raise ObjectTooLarge(self.limit)
        if self._left <= 0:
            if read(1):  # type: ignore[operator]
                self._over = True
                raise ObjectTooLarge(self.limit)
            return b""
        if size is None or size < 0:
            size = CHUNK_BYTES
        data: bytes = read(min(size, self._left))  # type: ignore[operator]
        self._left -= len(data)
        return data

    def read(self, size: int | None = -1, /) -> bytes:
        if size is None or size < 0:  # the rest: in chunks, up to the limit (then the error)
            parts = []
            while chunk := self._take(self._stream.read, CHUNK_BYTES):
                parts.append(chunk)
            return b"".join(parts)
        return self._take(self._stream.read, size)

    def read1(self, size: int = -1, /) -> bytes:
        return self._take(self._read1 if self._read1 is not None else self._stream.read, size)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class Rejoined:
    """A stream whose first bytes were already read (to sniff them) and are given back."""

    def __init__(self, head: bytes, stream: Stream) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int | None = -1, /) -> bytes:
        if self._head:
            head = self._head
            if size is None or size < 0:
                self._head = b""
                return head + self._stream.read()
            if len(head) >= size:
                self._head = head[size:]
                return head[:size]
            self._head = b""
            return head + self._stream.read(size - len(head))
        return self._stream.read(-1 if size is None else size)

    def read1(self, size: int = -1, /) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        read1 = getattr(self._stream, "read1", None)
        return read1(size) if read1 is not None else self._stream.read(size)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class Failing:
    """A stream that already failed: every read raises the error again."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def read(self, size: int = -1, /) -> bytes:
        raise self.error


def read_head(stream: Stream, size: int) -> tuple[bytes, BaseException | None]:
    """Up to ``size`` first bytes, and the error that stopped the reading early, if any.
    ``read1`` keeps what a truncated gzip member decompressed before its cut."""
    parts: list[bytes] = []
    have = 0
    read1 = getattr(stream, "read1", None)
    try:
        while have < size:
            chunk = read1(size - have) if read1 is not None else stream.read(size - have)
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
    except STREAM_ERRORS as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def raw_excerpt(raw: bytes) -> bytes:
    return raw[:REJECT_RAW_BYTES]


def _long_line(number: int, start: bytes, limit: int) -> Reject:
    return Reject(f"line {number}", f"the line is longer than the {size_text(limit)} limit (max_record_bytes)",
                  raw_excerpt(start))


def _start_of(pieces: list[bytes]) -> bytes:
    """The first REJECT_RAW_BYTES of pieces joined (without joining them all)."""
    out: list[bytes] = []
    have = 0
    for piece in pieces:
        out.append(piece[: REJECT_RAW_BYTES - have])
        have += len(out[-1])
        if have >= REJECT_RAW_BYTES:
            break
    return b"".join(out)


def iter_lines(stream: Stream, chunk_size: int = CHUNK_BYTES,
               max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[tuple[int, bytes] | Reject]:
    """Numbered lines (1-based, without the line ending) of a stream read in chunks; a
    decompression error yields one Reject and ends the iteration (after the lines before it:
    ``read1`` returns what a truncated gzip decompressed before the cut). A line longer than
    ``max_record_bytes`` is one Reject (with its first 4 KiB); the rest of it is passed
    over up to its newline without being kept."""
    limit = max_record_bytes
    number = 0
    pending: list[bytes] = []  # pieces of the line not yet ended (joined once: long lines stay linear)
    pending_size = 0
    skipping = False  # in a line over the limit (already rejected): dropped up to its newline
    offset = 0
    read = getattr(stream, "read1", None) or stream.read
    while True:
        try:
            chunk = read(chunk_size)
        except STREAM_ERRORS as exc:
            yield Reject(f"byte {offset}", stream_reason(exc), raw_excerpt(b"".join(pending)))
            return
        if not chunk:
            break
        offset += len(chunk)
        if b"\n" not in chunk:
            if not skipping:
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size > limit:
                    number += 1
                    yield _long_line(number, _start_of(pending), limit)
                    pending, pending_size, skipping = [], 0, True
            continue
        lines = chunk.split(b"\n")
        if skipping:
            del lines[0]  # the end of the line already rejected
            skipping = False
        elif pending:
            first = b"".join(pending) + lines[0]
            if len(first) > limit:
                number += 1
                yield _long_line(number, first, limit)
                del lines[0]
            else:
                lines[0] = first
        last = lines.pop()
        if len(chunk) > limit:  # a line inside the chunk may be over the limit (a chunk larger than it)
            for line in lines:
                number += 1
                yield _long_line(number, line, limit) if len(line) > limit else (number, line.rstrip(b"\r"))
        else:
            for line in lines:
                number += 1
                yield number, line.rstrip(b"\r")
        pending, pending_size = [last], len(last)
        if pending_size > limit:
            number += 1
            yield _long_line(number, last, limit)
            pending, pending_size, skipping = [], 0, True
    rest = b"".join(pending)
    if rest:
        yield number + 1, rest.rstrip(b"\r")


def read_all(stream: Stream) -> bytes | Reject:
    """The whole object (for whole-document formats), or a Reject when it cannot be read
    (a document cut short is not read at all). Unbounded but for the object limit: readers
    use read_document."""
    try:
        return stream.read()
    except STREAM_ERRORS as exc:
        return Reject("byte 0", stream_reason(exc))


class Streamed:
    """A document too large to decode whole: the chunks read ahead, then the rest of the
    stream (each chunk given once, and let go)."""

    def __init__(self, chunks: list[bytes], stream: Stream | None) -> None:
        self._chunks = chunks[::-1]  # taken from the end
        self._stream = stream
        self._read = (getattr(stream, "read1", None) or stream.read) if stream is not None else None

    def read1(self, size: int = -1, /) -> bytes:
        if self._chunks:
            return self._chunks.pop()
        return self._read(size) if self._read is not None else b""

    read = read1


def read_document(stream: Stream, limits: Limits = DEFAULT_LIMITS) -> bytes | Reject | Streamed:
    """A whole-document object: its bytes when it is no larger than
    ``limits.document_fast_bytes`` (read in chunks, joined once), else a ``Streamed`` for
    split_json; a Reject when it is cut short or over the object limit before that (a
    document so cut is not read at all)."""
    fast = limits.document_fast_bytes
    parts: list[bytes] = []
    have = 0
    read = getattr(stream, "read1", None) or stream.read
    try:
        while have <= fast:
            chunk = read(min(limits.chunk_bytes, fast + 1 - have))
            if not chunk:
                data = b"".join(parts)
                parts.clear()
                return data
            parts.append(chunk)
            have += len(chunk)
    except STREAM_ERRORS as exc:
        return Reject(f"byte {have}" if isinstance(exc, ObjectTooLarge) else "byte 0", stream_reason(exc))
    return Streamed(parts, stream)


# --- Splitting a large document, element by element ------------------------------------

_SPACE = re.compile(rb"[ \t\r\n]*+")
_STRING_REST = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)  # a string after its quote, to its end or a cut
# Up to the next bracket or a string not ended in the buffer (whole strings passed over).
_SPAN = re.compile(rb'(?:[^"\[\]{}]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
_SCALAR = re.compile(rb'[^ \t\r\n,:\[\]{}"]*+')  # a number, true, false or null
_OPEN = frozenset(b"[{")


@dataclass(frozen=True)
class Element:
    """One element of a document split by split_json, or why the splitting stopped."""

    offset: int  # where it starts, in bytes from the start of the object
    value: int  # which top-level value it is in, from 1 (values may be written back to back)
    index: int  # its place in its list, from 1; 0: a whole top-level value that holds no list split
    raw: bytes  # its JSON text (an error's: the first REJECT_RAW_BYTES)
    key: str = ""  # the member of a top-level object whose list it is in; "" for a top-level array
    context: bytes = b""  # that object's (small) members met before the list, as a JSON object
    error: str = ""  # why it is not given: nested too deeply, larger than the limit
    ends: bool = False  # the document cannot be read on (malformed, cut short, over the object limit)


class _Stop(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


class _Window:
    """The bytes of the document still needed: ``buf`` (starting at byte ``base`` of the
    object), from ``mark`` (the start of what is kept, -1: nothing) or else ``pos``."""

    def __init__(self, stream: Stream, limits: Limits) -> None:
        self._read = getattr(stream, "read1", None) or stream.read
        self.chunk = limits.chunk_bytes
        self.max_record = limits.max_record_bytes
        self.max_depth = limits.max_depth
        self.buf = b""
        self.base = 0
        self.pos = 0
        self.mark = -1
        self.eof = False
        self.error: BaseException | None = None  # met while reading ahead: raised when reached
        self.oversize = False  # what was kept from mark outgrew max_record (then dropped)
        self.too_deep = False
        self.excerpt = b""
        self.excerpt_at = -1  # where the excerpt starts in the object (-1: none)
        self.current: Element | None = None  # the element being read (its place; raw, error unset)

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def more(self) -> bool:
        """Reads on (dropping what is no longer needed); False at the end of the stream. It
        reads at least as much as it keeps, so that a long element is copied a few times, not
        once per chunk."""
        if self.eof:
            return False
        if self.error is not None:
            self.eof = True
            raise _Stop(self.base + len(self.buf), stream_reason(self.error))
        keep = self.pos if self.mark < 0 else self.mark
        want = max(self.chunk, len(self.buf) - keep)
        pieces: list[bytes] = []
        got = 0
        try:
            while got < want:
                piece = self._read(want - got)
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
        except STREAM_ERRORS as exc:
            self.error = exc  # raised once what came before it is read
        if not pieces:
            return self.more() if self.error is not None else self._end()
        chunk = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._fill(len(self.buf))
        self.buf = self.buf[keep:] + chunk if keep else self.buf + chunk
        self.base += keep
        self.pos -= keep
        if self.mark >= 0:
            self.mark -= keep
            if len(self.buf) - self.mark > self.max_record:
                self.drop(oversize=True)
        return True

    def _end(self) -> bool:
        self.eof = True
        return False

    def drop(self, oversize: bool = False, too_deep: bool = False) -> None:
        """Stops keeping the element (it is over a limit): its first bytes are the excerpt."""
        if self.mark >= 0:
            self.excerpt = self.buf[self.mark : self.mark + REJECT_RAW_BYTES]
            self.excerpt_at = self.base + self.mark
            self.mark = -1
        self.oversize |= oversize
        self.too_deep |= too_deep

    def _fill(self, end: int) -> None:
        """The excerpt of a dropped element, completed from the window up to ``end``."""
        if self.excerpt_at < 0 or len(self.excerpt) >= REJECT_RAW_BYTES:
            return
        start = self.excerpt_at + len(self.excerpt) - self.base
        if 0 <= start < end:
            self.excerpt += self.buf[start : min(end, start + REJECT_RAW_BYTES - len(self.excerpt))]

    def space(self) -> bool:
        """To the next byte that is not white space; False at the end of the document."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self.more():
                return self.pos < len(self.buf)

    def needed(self, what: str) -> int:
        """The next byte that is not white space; _Stop when the document ends before it."""
        if not self.space():
            raise _Stop(self.offset, f"the document ends before {what}")
        return self.buf[self.pos]

    def string(self) -> None:
        """Passes over a string (pos at its quote), however long, a chunk at a time."""
        self.pos += 1
        while True:
            self.pos = _STRING_REST.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) and self.buf[self.pos] == 0x22:
                self.pos += 1
                return
            if not self.more():  # the end, or a backslash at the end of the window
                raise _Stop(self.offset, "the document ends inside a string")

    def value(self, depth: int = 0) -> None:
        """Passes over one value (pos at its first byte), counting its depth from ``depth``:
        deeper than max_depth, it is dropped (and passed over without recursion)."""
        buf = self.buf
        char = buf[self.pos]
        if char == 0x22:
            self.string()
            return
        if char not in _OPEN:
            start = self.offset
            while True:
                self.pos = _SCALAR.match(self.buf, self.pos).end()  # type: ignore[union-attr]
                if self.pos < len(self.buf) or not self.more():
                    break
            if self.offset == start:
                raise _Stop(start, f"malformed JSON: unexpected {chr(char)!r}")
            return
        level = 0
        deepest = self.max_depth - depth
        while True:
            self.pos = _SPAN.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos == len(self.buf):
                if not self.more():
                    raise _Stop(self.offset, "the document ends inside a value")
                continue
            char = self.buf[self.pos]
            if char == 0x22:
                self.string()
                continue
            self.pos += 1
            if char in _OPEN:
                level += 1
                if level > deepest and not self.too_deep:
                    self.drop(too_deep=True)
            else:
                level -= 1
                if level == 0:
                    return

    def start(self, current: Element) -> None:
        self.mark = self.pos
        self.oversize = self.too_deep = False
        self.excerpt = b""
        self.excerpt_at = -1
        self.current = current

    def unfinished(self, limits_text: str) -> Element | None:
        """The element being read when the document stopped, if it was already over a limit."""
        current, self.current = self.current, None
        if current is None or not (self.oversize or self.too_deep):
            return None
        raw, error = self.taken(limits_text)
        return Element(current.offset, current.value, current.index, raw, current.key, current.context, error)

    def taken(self, limits_text: str) -> tuple[bytes, str]:
        """The element kept since start() (pos at its end), or its excerpt and why not."""
        self.current = None
        if not (self.oversize or self.too_deep) and self.pos - self.mark > self.max_record:
            self.drop(oversize=True)
        self._fill(self.pos)
        self.excerpt_at = -1
        if self.too_deep:
            return self.excerpt, f"nested too deeply (more than {self.max_depth} levels)"
        if self.oversize:
            return self.excerpt, f"the record is larger than the {limits_text} limit (max_record_bytes)"
        raw = self.buf[self.mark : self.pos]
        self.mark = -1
        return raw, ""


def split_json(stream: Stream, *, keys: tuple[str, ...] = (), sequence: bool = False,
               limits: Limits = DEFAULT_LIMITS) -> Iterator[Element]:
    """The elements of a JSON document read from ``stream`` in chunks, without decoding it:
    of a top-level array, or of the list a top-level object holds under one of ``keys``
    (``{"Records": [...]}``); any other top-level value comes whole (index 0). With
    ``sequence``, values written back to back are read one after another; without, text after
    the first is an error. Memory stays within a few chunks and one element.

    An element nested deeper than ``limits.max_depth`` or larger than
    ``limits.max_record_bytes`` comes with an ``error`` (and its first bytes); malformed JSON,
    the document's end before it is complete and a stream error end the splitting with an
    ``ends`` element. Only strings and brackets are looked at: each element is checked by
    whoever decodes it."""
    window = _Window(stream, limits)
    limit_text = size_text(limits.max_record_bytes)
    number = 0
    try:
        while window.space():
            number += 1
            if number > 1 and not sequence:
                yield Element(window.offset, number, 0, raw_excerpt(window.buf[window.pos:]),
                              error="text after the JSON document", ends=True)
                return
            char = window.buf[window.pos]
            if char == 0x5B:  # [
                window.pos += 1
                yield from _items(window, number, "", b"", limit_text)
            elif char == 0x7B and keys:  # {
                yield from _members(window, number, keys, limit_text)
            else:
                offset = window.offset
                window.start(Element(offset, number, 0, b""))
                window.value()
                raw, error = window.taken(limit_text)
                yield Element(offset, number, 0, raw, error=error)
    except _Stop as stop:
        unfinished = window.unfinished(limit_text)
        if unfinished is not None:
            yield unfinished
        yield Element(stop.offset, number, 0, b"", error=stop.reason, ends=True)


def _items(window: _Window, number: int, key: str, context: bytes, limit_text: str) -> Iterator[Element]:
    """The elements of a list (pos after its ``[``), up to its ``]``."""
    index = 0
    while True:
        char = window.needed("the end of a list")
        if char == 0x5D:  # ]
            window.pos += 1
            return
        if index:
            if char != 0x2C:  # ,
                raise _Stop(window.offset, f"malformed JSON: {chr(char)!r} where ',' or ']' was expected")
            window.pos += 1
            window.needed("the next element of a list")
        index += 1
        offset = window.offset
        window.start(Element(offset, number, index, b"", key, context))
        window.value()
        raw, error = window.taken(limit_text)
        yield Element(offset, number, index, raw, key, context, error)


def _members(window: _Window, number: int, keys: tuple[str, ...], limit_text: str) -> Iterator[Element]:
    """A top-level object (pos at its ``{``): the elements of its lists named by ``keys``;
    the object itself (index 0) when it has none."""
    wanted = {f'"{key}"'.encode(): key for key in keys}
    offset = window.offset
    window.start(Element(offset, number, 0, b""))  # kept whole until a list to split is met
    window.pos += 1
    context: list[bytes] = []
    split = False
    first = True
    while True:
        char = window.needed("the end of an object")
        if char == 0x7D:  # }
            window.pos += 1
            break
        if not first:
            if char != 0x2C:
                raise _Stop(window.offset, f"malformed JSON: {chr(char)!r} where ',' or '}}' was expected")
            window.pos += 1
            char = window.needed("a member name")
        first = False
        if char != 0x22:
            raise _Stop(window.offset, f"malformed JSON: {chr(char)!r} where a member name was expected")
        name_at = window.offset
        window.string()
        name = window.buf[name_at - window.base : window.pos] if name_at >= window.base else b""
        if window.needed("a member's value") != 0x3A:  # :
            raise _Stop(window.offset, "malformed JSON: ':' expected after a member name")
        window.pos += 1
        char = window.needed("a member's value")
        if char == 0x5B and name in wanted:
            if not split:
                window.mark = -1  # not kept whole: split
                window.current = None
                split = True
            window.pos += 1
            yield from _items(window, number, wanted[name], b"{" + b",".join(context) + b"}", limit_text)
            continue
        value_at = window.offset
        window.value(depth=1)
        if name and value_at >= window.base and window.offset - value_at <= CONTEXT_BYTES:
            context.append(name + b":" + window.buf[value_at - window.base : window.pos])
    if not split:
        raw, error = window.taken(limit_text)
        yield Element(offset, number, 0, raw, error=error)
