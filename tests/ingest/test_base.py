"""The readers' shared helpers: line splitting, read-ahead and gzip errors."""

from __future__ import annotations

import gzip
import io

from gumshoe.formats import base


def lines(stream, chunk_size=4):
    return list(base.iter_lines(stream, chunk_size=chunk_size))


def test_lines_are_numbered_across_chunks_without_their_endings():
    data = b"first\r\nsecond line\n\nthird"
    assert lines(io.BytesIO(data)) == [(1, b"first"), (2, b"second line"), (3, b""), (4, b"third")]


def test_a_line_longer_than_many_chunks_comes_out_whole():
    long = b"x" * 10_000
    assert lines(io.BytesIO(long + b"\nend\n"), chunk_size=7) == [(1, long), (2, b"end")]


def test_a_truncated_gzip_gives_the_lines_before_the_cut_then_one_reject():
    text = b"".join(b"line %d %s\n" % (i, b"y" * 50) for i in range(5000))
    packed = gzip.compress(text)
    out = lines(gzip.GzipFile(fileobj=io.BytesIO(packed[: len(packed) // 2])), chunk_size=1 << 20)
    *good, last = out
    assert isinstance(last, base.Reject) and "truncated" in last.reason
    assert len(good) > 100 and all(isinstance(item, tuple) for item in good)
    assert good[0] == (1, b"line 0 " + b"y" * 50)


def test_read_head_keeps_what_came_before_an_error_and_rejoined_gives_it_back():
    text = b"z" * 200_000
    packed = gzip.compress(text)
    stream = gzip.GzipFile(fileobj=io.BytesIO(packed[:-30]))
    head, error = base.read_head(stream, 65536)
    assert head == text[:65536] and error is None
    rest = base.Rejoined(head, stream)
    assert rest.read(10) == text[:10]
    assert rest.read1(100) == text[10:65536]
    full_head, error = base.read_head(gzip.GzipFile(fileobj=io.BytesIO(packed[:-30])), 1 << 20)
    assert error is not None and 0 < len(full_head) < len(text)


def test_read_all_reports_a_cut_document():
    packed = gzip.compress(b'{"Records": []}' * 1000)
    result = base.read_all(gzip.GzipFile(fileobj=io.BytesIO(packed[:-10])))
    assert isinstance(result, base.Reject)
