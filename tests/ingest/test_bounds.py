"""What one bad record and one object can cost: a record that fails to decode for any reason
(nested 100,000 deep, too long, of unexpected types) is one reject and the rest is read; an
object is read with bounded memory, however it is padded or packed (a gzip bomb), up to its
size limit, which is one reject. Real readers, real gzip, no mocks."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

import gumshoe
from gumshoe.formats import asff, base, cloudtrail, eks_audit, guardduty, vpcflow
from gumshoe.formats.base import Limits, Reject
from gumshoe.ingest.growing import Part
from gumshoe.ingest.sources import list_objects

ACCOUNT = "111122223333"
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
DEEP = pytest.mark.parametrize("deep", [DEEP_ARRAY, DEEP_OBJECT], ids=["arrays", "objects"])
# Strings the splitter must pass over exactly: brackets, quotes, escapes, a backslash at the end.
TRICKY = 'br]ack}ets{[ "quoted" \\"esc\\\\aped\\" \\\\ \u00e9\u2603 \\u005d ,:'


# ---- one record of each reader ----


def trail_event(n: int) -> dict[str, Any]:
    return {
        "eventVersion": "1.08", "eventTime": "2026-11-02T10:15:30Z", "eventSource": "s3.amazonaws.com",
        "eventName": f"Call{n}", "eventID": f"e-{n}", "awsRegion": "eu-west-1", "recipientAccountId": ACCOUNT,
        "userAgent": TRICKY, "sourceIPAddress": "203.0.113.7",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "accountId": ACCOUNT},
        "requestParameters": {"bucketName": "logs", "filter": [[TRICKY], {"x": ["]]]", "{{{"]}]},
    }


def finding(n: int) -> dict[str, Any]:
    return {
        "schemaVersion": "2.0", "accountId": ACCOUNT, "region": "us-east-1", "id": f"{n:032x}",
        "arn": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d/finding/{n:032x}",
        "type": "Recon:EC2/PortProbeUnprotectedPort", "title": TRICKY, "severity": 2,
        "createdAt": "2024-03-01T10:00:00.000Z", "updatedAt": "2024-03-01T11:00:00.000Z",
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0abc"}},
        "service": {"eventLastSeen": "2024-03-01T10:59:00.000Z", "count": 3, "extra": [[TRICKY]]},
    }


def sh_finding(n: int) -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08", "Id": f"finding-{n}", "GeneratorId": "gen",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub", "AwsAccountId": ACCOUNT,
        "Types": ["Software and Configuration Checks"], "Title": TRICKY, "UpdatedAt": "2024-03-01T12:00:00.000Z",
        "CreatedAt": "2024-03-01T10:00:00.000Z", "Severity": {"Label": "LOW", "Normalized": 1},
        "Resources": [{"Type": "AwsAccount", "Id": f"AWS::::Account:{ACCOUNT}"}],
    }


def audit_event(n: int) -> dict[str, Any]:
    return {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": f"audit-{n}", "stage": "ResponseComplete",
        "requestURI": f"/api/v1/pods?q={TRICKY}", "verb": "get", "user": {"username": "alice", "groups": ["g"]},
        "sourceIPs": ["192.0.2.10"], "userAgent": TRICKY, "objectRef": {"resource": "pods", "namespace": "p"},
        "responseStatus": {"code": 200}, "requestReceivedTimestamp": "2024-01-15T10:20:30.123456Z",
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def read(module: Any, data: bytes | io.RawIOBase, limits: Limits | None = None, name: str = "x.json"
         ) -> tuple[list[Any], list[Reject]]:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    records: list[Any] = []
    rejects: list[Reject] = []
    for batch in module.read(stream, name, limits):
        records += batch.records
        rejects += batch.rejects
    return records, rejects


JSON_READERS: list[tuple[Any, Callable[[int], dict[str, Any]]]] = [
    (cloudtrail, trail_event), (guardduty, finding), (asff, sh_finding), (eks_audit, audit_event),
]
READER_IDS = ["cloudtrail", "guardduty", "asff", "eks_audit"]
json_readers = pytest.mark.parametrize(("module", "make"), JSON_READERS, ids=READER_IDS)


# ---- a record nested 100,000 deep ----


@json_readers
@DEEP
def test_a_deep_line_is_one_reject_between_the_lines_read(module: Any, make: Callable[[int], dict[str, Any]], deep: bytes) -> None:
    data = dumps(make(1)) + b"\n" + deep + b"\n" + dumps(make(2)) + b"\n"
    records, rejects = read(module, data)
    assert len(records) == 2 and records == read(module, dumps(make(1)) + b"\n" + dumps(make(2)) + b"\n")[0]
    [reject] = rejects
    assert reject.position == "line 2" and reject.reason == "nested too deeply"
    assert reject.raw == deep[: base.REJECT_RAW_BYTES]


def document_forms(module: Any, make: Callable[[int], dict[str, Any]], middle: bytes) -> list[tuple[str, bytes]]:
    """The whole-document forms of each reader, with ``middle`` between two good records."""
    a, b = dumps(make(1)), dumps(make(2))
    listed = a + b",\n" + middle + b",\n" + b
    forms = [("array", b"[\n" + listed + b"\n]\n")]
    key = {cloudtrail: "Records", guardduty: "findings", asff: "Findings", eks_audit: "items"}[module]
    head = b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1",' if module is eks_audit else b"{"
    forms.append((key, head + b'\n "' + key.encode() + b'": [' + listed + b"]}\n"))
    if module is guardduty:
        forms.append(("Findings", b'{"Findings": [' + listed + b"]}"))
    return forms


def record_position(module: Any, form: str, index: int) -> str:
    return f"record 1, item {index}" if module is eks_audit and form == "items" else f"record {index}"


@json_readers
@DEEP
@pytest.mark.parametrize("split", [False, True], ids=["read-whole", "split"])
def test_a_deep_element_of_a_document_is_one_reject_and_its_neighbours_are_read(
        module: Any, make: Callable[[int], dict[str, Any]], deep: bytes, split: bool) -> None:
    limits = Limits(document_fast_bytes=1000, chunk_bytes=4096) if split else None
    for form, data in document_forms(module, make, deep):
        records, rejects = read(module, data, limits)
        assert len(records) == 2, form
        [reject] = rejects
        assert reject.position == record_position(module, form, 2), form
        assert reject.reason == "nested too deeply (more than 1000 levels)"
        assert reject.raw == deep[: base.REJECT_RAW_BYTES]


def test_deep_elements_within_the_limit_still_decode_or_are_one_reject_each() -> None:
    nested = b"[" * 1000 + b"]" * 1000  # exactly MAX_DEPTH: the splitter keeps it, the decoder refuses it
    data = b'{"Records": [' + dumps(trail_event(1)) + b"," + nested + b"," + nested + b"," + dumps(trail_event(2)) + b"]}"
    records, rejects = read(cloudtrail, data)
    assert [r.event_id for r in records] == ["e-1", "e-2"]
    assert [r.position for r in rejects] == ["record 2", "record 3"]


def test_an_event_of_a_subscription_envelope_nested_too_deeply_is_one_reject() -> None:
    envelope = {"owner": ACCOUNT, "logGroup": "/aws/eks/prod/cluster",
                "logEvents": [{"message": dumps(audit_event(1)).decode()}, {"message": DEEP_OBJECT.decode()},
                              {"message": dumps(audit_event(2)).decode()}]}
    for limits in (None, Limits(document_fast_bytes=100)):
        records, rejects = read(eks_audit, json.dumps(envelope, indent=1).encode(), limits)
        assert [(r.audit_id, r.account_id, r.cluster) for r in records] == [
            ("audit-1", ACCOUNT, "prod"), ("audit-2", ACCOUNT, "prod")]
        [reject] = rejects
        assert reject.position == "record 1, log event 2" and reject.reason == "nested too deeply"


def test_a_finding_that_fails_in_normalisation_is_one_reject() -> None:
    # PascalCase (the CLI's) findings are rewritten in Python: 600 levels decode, but not that.
    pascal = {"AccountId": ACCOUNT, "Id": "f" * 32, "Type": "T", "UpdatedAt": "2024-03-01T11:00:00Z",
              "Deep": json.loads(b"[" * 600 + b"]" * 600)}
    raw = dumps(pascal)
    msgspec.json.decode(raw)  # valid, decodable JSON
    records, rejects = read(guardduty, dumps(finding(1)) + b"\n" + raw + b"\n" + dumps(finding(2)) + b"\n")
    assert len(records) == 2
    [reject] = rejects
    assert reject.position == "line 2" and reject.reason == "nested too deeply"


def test_a_deep_value_as_the_first_line_is_still_a_line() -> None:
    data = b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"\n" + dumps(audit_event(1)) + b"\n"
    records, rejects = read(eks_audit, data)
    assert [r.audit_id for r in records] == ["audit-1"]
    assert [(r.position, r.reason) for r in rejects] == [("line 1", "nested too deeply")]


def test_eks_lines_whose_first_line_is_cut_short_are_lines_however_large() -> None:
    data = b'{"kind":"Event","auditID":"x"\n' + b"\n".join(dumps(audit_event(n)) for n in range(50)) + b"\n"
    for limits in (None, Limits(document_fast_bytes=100)):
        records, rejects = read(eks_audit, data, limits)
        assert len(records) == 50
        assert [(r.position, r.reason) for r in rejects] == [("line 1", "malformed JSON: Input data was truncated")]


# ---- a line too long ----


LINE_READERS = [*JSON_READERS, (vpcflow, lambda n: n)]


def line_of(module: Any, make: Callable[[int], Any], n: int) -> bytes:
    if module is vpcflow:
        return b"2 %s eni-0abc 10.0.0.1 10.0.0.2 443 5%04d 6 10 840 1700000000 1700000060 ACCEPT OK" % (ACCOUNT.encode(), n)
    return dumps(make(n))


@pytest.mark.parametrize(("module", "make"), LINE_READERS, ids=[*READER_IDS, "vpcflow"])
@pytest.mark.parametrize("chunk", [1 << 20, 1000], ids=["in-a-chunk", "across-chunks"])
def test_a_line_over_the_record_limit_is_one_reject_and_the_next_line_is_read(
        module: Any, make: Callable[[int], Any], chunk: int) -> None:
    long = b'{"padding": "' + b"x" * 50_000 + b'"}'
    data = line_of(module, make, 1) + b"\n" + long + b"\n" + line_of(module, make, 2) + b"\n"
    records, rejects = read(module, data, Limits(max_record_bytes=20_000, chunk_bytes=chunk))
    assert len(records) == 2
    [reject] = rejects
    assert reject.position == "line 2"
    assert reject.reason == "the line is longer than the 20000 bytes limit (max_record_bytes)"
    assert reject.raw == long[: base.REJECT_RAW_BYTES]


def test_iter_lines_keeps_no_more_than_the_limit_of_a_long_line() -> None:
    limit = 100
    too_long = "the line is longer than the 100 bytes limit (max_record_bytes)"
    long_y, long_w = b"y" * 1000, b"w" * 150
    data = b"a\n" + long_y + b"\n" + b"z" * 100 + b"\n" + long_w + b"\r\nlast"
    for chunk in (7, 64, 99, 100, 101, 4096):
        out = list(base.iter_lines(io.BytesIO(data), chunk, limit))
        rejects = [item for item in out if isinstance(item, Reject)]
        assert out[0::2] == [(1, b"a"), (3, b"z" * 100), (5, b"last")], chunk  # exactly the limit: kept
        assert out[1::2] == rejects and [(r.position, r.reason) for r in rejects] == [
            ("line 2", too_long), ("line 4", too_long)], chunk
        for reject, line in zip(rejects, (long_y, long_w + b"\r"), strict=True):  # the start of the line, as much as was read
            assert limit < len(reject.raw) <= base.REJECT_RAW_BYTES and line.startswith(reject.raw), chunk
    # A line without end: one reject, nothing more kept.
    endless = list(base.iter_lines(io.BytesIO(b"ok\n" + b" " * 10_000), 64, limit))
    assert endless[0] == (1, b"ok") and len(endless) == 2
    assert isinstance(endless[1], Reject) and endless[1].position == "line 2"


# ---- the object size limit ----


def write(path: Path, data: bytes, packed: bool) -> Path:
    path.write_bytes(gzip.compress(data) if packed else data)
    return path


def open_object(path: Path, limit: int) -> Any:
    """What the pipeline hands a reader: the object opened with its limit, its head read."""
    obj = next(list_objects(str(path)))
    stream = obj.open(limit=limit)
    head, error = base.read_head(stream, 65536)
    return base.Rejoined(head, base.Failing(error) if error is not None else stream)


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(("module", "make"), LINE_READERS, ids=[*READER_IDS, "vpcflow"])
def test_lines_past_the_object_limit_are_one_reject_after_the_lines_before_it(
        tmp_path: Path, module: Any, make: Callable[[int], Any], packed: bool) -> None:
    lines = [line_of(module, make, n) for n in range(400)]
    data = b"\n".join(lines) + b"\n"
    limit = 16 << 10
    records, rejects = read(module, open_object(write(tmp_path / "object.log", data, packed), limit))
    whole = data[:limit].count(b"\n")
    assert len(records) == whole and 0 < whole < 400
    assert records == read(module, b"\n".join(lines[:whole]) + b"\n")[0]
    [reject] = rejects
    assert reject.position == f"byte {limit}"
    assert reject.reason == "unpacked, the object is larger than the 16 KiB limit (max_object_bytes)"


def test_a_document_past_the_object_limit_is_one_reject_or_its_elements_before_it(tmp_path: Path) -> None:
    data = dumps({"Records": [trail_event(n) for n in range(400)]})
    path = write(tmp_path / "trail.json.gz", data, True)
    limit = 128 << 10
    reason = "unpacked, the object is larger than the 128 KiB limit (max_object_bytes)"
    # Read whole (smaller than the fast-path threshold): nothing of it.
    assert read(cloudtrail, open_object(path, limit)) == ([], [Reject(f"byte {limit}", reason)])
    # Split (larger than the threshold): the events before the limit.
    records, rejects = read(cloudtrail, open_object(path, limit), Limits(document_fast_bytes=4096))
    assert 0 < len(records) < 400 and [r.event_id for r in records] == [f"e-{n}" for n in range(len(records))]
    [reject] = rejects
    assert (reject.position, reject.reason) == (f"byte {limit}", reason)


def test_limited_gives_the_limit_then_refuses() -> None:
    stream = base.Limited(io.BytesIO(b"abcdefghij"), 4)
    assert stream.read(3) == b"abc" and stream.read1(5) == b"d"
    with pytest.raises(base.ObjectTooLarge, match="larger than the 4 bytes limit"):
        stream.read(1)
    with pytest.raises(base.ObjectTooLarge):
        stream.read1(1)
    exact = base.Limited(io.BytesIO(b"abcd"), 4)
    assert exact.read() == b"abcd" and exact.read(1) == b""


def test_the_object_limit_applies_by_default_but_not_to_a_part_of_a_growing_file(tmp_path: Path) -> None:
    obj = next(list_objects(str(write(tmp_path / "a.log", b"x", True))))
    stream = obj.open()
    assert isinstance(stream, base.Limited) and stream.limit == base.MAX_OBJECT_BYTES == 256 << 20
    stream.close()
    lines = next(list_objects(str(write(tmp_path / "b.log", b"0123456789\n" * 10, False))))
    part = dataclasses.replace(lines, part=Part(0, 11, 99, "f", lines.modified_ns, "vpcflow"), size=88)
    piece = part.open(limit=10)  # its size is known before reading: the pipeline cuts parts
    assert piece.read() == b"0123456789\n" * 8
    piece.close()


# ---- the gzip bomb ----

MEASURE = textwrap.dedent("""
    import json, sys
    from gumshoe.formats import base, cloudtrail
    from gumshoe.ingest.sources import list_objects
    obj = next(list_objects(sys.argv[1]))
    stream = obj.open()
    head, error = base.read_head(stream, 65536)
    assert cloudtrail.sniff(head, obj.key)
    records, rejects = 0, []
    for batch in cloudtrail.read(base.Rejoined(head, stream), obj.key):
        records += len(batch.records)
        rejects += [(r.position, r.reason) for r in batch.rejects]
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    print(json.dumps({"records": records, "rejects": rejects, "peak_kib": int(status["VmHWM"].split()[0])}))
""")


def bomb(path: Path, prefix: bytes, megabytes: int) -> Path:
    """``prefix`` then ``megabytes`` MiB of spaces, gzipped: gzip members back to back, one per MiB."""
    member = gzip.compress(b" " * (1 << 20), 9)
    with path.open("wb") as out:
        out.write(gzip.compress(prefix))
        for _ in range(megabytes):
            out.write(member)
    return path


@pytest.mark.parametrize(("prefix", "first"), [
    (b'{"Records":[', []),
    (b'{"Records":[{"eventName":"x",', [("record 1", "the record is larger than the 8 MiB limit (max_record_bytes)")]),
    (dumps(trail_event(1)) + b'\n{"a":"', [("line 2", "the line is longer than the 8 MiB limit (max_record_bytes)")]),
], ids=["records-padded", "element-padded", "line-padded"])
def test_a_gzip_bomb_is_one_reject_in_bounded_memory(tmp_path: Path, prefix: bytes, first: list[tuple[str, str]]) -> None:
    path = bomb(tmp_path / "bomb.json.gz", prefix, 1000)  # 1 MB packed, 1000 MiB unpacked
    assert path.stat().st_size < 1_200_000
    env = {**os.environ, "PYTHONPATH": str(Path(gumshoe.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, env=env, timeout=120, check=True)
    result = json.loads(done.stdout)
    too_large = ("byte 268435456", "unpacked, the object is larger than the 256 MiB limit (max_object_bytes)")
    assert [tuple(r) for r in result["rejects"]] == [*first, too_large]
    assert result["records"] == (1 if first and first[0][0] == "line 2" else 0)
    assert result["peak_kib"] < 512 * 1024


# ---- the splitter ----


def same(a: list[Any], b: list[Any], *, ignore_size: bool = False) -> None:
    def fields(record: Any) -> dict[str, Any]:
        out = msgspec.structs.asdict(record)
        if ignore_size:
            out.pop("size")
        return out
    assert [fields(r) for r in a] == [fields(r) for r in b]


@pytest.mark.parametrize("chunk", [1, 7, 4096], ids=["1-byte", "7-byte", "4-KiB"])
def test_the_splitter_gives_what_the_whole_document_gives(chunk: int) -> None:
    split = Limits(document_fast_bytes=0, chunk_bytes=chunk)
    trail = [trail_event(n) for n in range(30)]
    bad = [{"eventName": 5}, "text", 12, None, {"eventTime": "2026-11-02T10:15:30Z", "eventName": "NoAccount"}]
    for data in (
        json.dumps({"Records": trail}).encode(),
        json.dumps({"Records": trail[:3] + bad + trail[3:]}, indent=2).encode(),
        json.dumps(trail, indent="\t").encode(),
        json.dumps({"Records": trail, "Other": [1, {"Records": "no"}]}, ensure_ascii=False).encode(),
    ):
        whole, whole_rejects = read(cloudtrail, data)
        parts, part_rejects = read(cloudtrail, data, split)
        same(whole, parts, ignore_size=True)  # read whole, an event's size is its share of the file
        assert len(parts) == 30
        assert [(r.position, r.reason) for r in whole_rejects] == [(r.position, r.reason) for r in part_rejects]
    for module, make, keys in ((guardduty, finding, ("findings", "Findings")), (asff, sh_finding, ("Findings",))):
        items = [make(n) for n in range(20)]
        for data in [json.dumps(items, indent=2).encode()] + [json.dumps({key: items}, indent=1).encode() for key in keys]:
            whole, whole_rejects = read(module, data)
            parts, part_rejects = read(module, data, split)
            same(whole, parts)
            assert len(parts) == 20 and whole_rejects == part_rejects == []
    audit = [audit_event(n) for n in range(20)]
    envelope = {"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": "/aws/eks/prod/cluster",
                "logEvents": [{"id": str(n), "message": dumps(event).decode()} for n, event in enumerate(audit)]}
    for data in (
        json.dumps(audit, indent=2).encode(),
        json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": audit}, indent=2).encode(),
        json.dumps(envelope, indent=2).encode(),
        b"".join(json.dumps({**envelope, "logEvents": envelope["logEvents"][n:n + 5]}, indent=2).encode() for n in range(0, 20, 5)),
    ):
        whole, whole_rejects = read(eks_audit, data)
        parts, part_rejects = read(eks_audit, data, split)
        same(whole, parts)
        assert len(parts) == 20 and whole_rejects == part_rejects == []


def test_split_json_elements_are_exactly_their_text() -> None:
    items = [{"s": TRICKY}, [TRICKY, [[]], {}], TRICKY, "\\", "", 0, -1.5e-3, True, False, None, {"a": {"b": [1, "]"]}}]
    data = json.dumps({"x": [1, 2], "Records": items, "after": "}"}, indent=3).encode()
    for chunk in (1, 2, 3, 5, 1 << 20):
        elements = list(base.split_json(io.BytesIO(data), keys=("Records",), limits=Limits(chunk_bytes=chunk)))
        assert [json.loads(e.raw) for e in elements] == items, chunk
        assert [e.index for e in elements] == list(range(1, len(items) + 1))
        assert all(e.key == "Records" and json.loads(e.context) == {"x": [1, 2]} for e in elements)
        assert all(data[e.offset : e.offset + len(e.raw)] == e.raw for e in elements)


def test_split_json_says_where_a_document_stops() -> None:
    def stop(data: bytes, **kw: Any) -> tuple[int, str]:
        *_, last = base.split_json(io.BytesIO(data), limits=Limits(chunk_bytes=3), **kw)
        assert last.ends
        return last.offset, last.error
    assert stop(b"[1, 2") == (5, "the document ends before the end of a list")
    assert stop(b'[1, "ab') == (7, "the document ends inside a string")
    assert stop(b"[1 2]") == (3, "malformed JSON: '2' where ',' or ']' was expected")
    assert stop(b"[1,]") == (3, "malformed JSON: unexpected ']'")
    assert stop(b"[1] [2]") == (4, "text after the JSON document")
    assert stop(b"[" + b" " * 100_000) == (100_001, "the document ends before the end of a list")
    assert [e.raw for e in base.split_json(io.BytesIO(b"[1] [2]"), sequence=True)] == [b"1", b"2"]


def test_split_json_drops_what_is_over_a_limit_and_goes_on() -> None:
    limits = Limits(max_record_bytes=50, max_depth=5, chunk_bytes=8)
    data = b'[{"a":1}, "' + b"x" * 200 + b'", [[[[[[0]]]]]], [[[[[0]]]]], ' + b" " * 10_000 + b"7]"
    elements = list(base.split_json(io.BytesIO(data), limits=limits))
    assert [(e.index, e.error) for e in elements] == [
        (1, ""),
        (2, "the record is larger than the 50 bytes limit (max_record_bytes)"),
        (3, "nested too deeply (more than 5 levels)"),
        (4, ""),
        (5, ""),
    ]
    # What is dropped comes with its first 4 KiB (here: all of it), as a reject's excerpt.
    assert elements[1].raw == b'"' + b"x" * 200 + b'"' and elements[2].raw == b"[[[[[[0]]]]]]"
    assert elements[4].raw == b"7"


def test_a_document_too_large_to_read_whole_is_split_with_bounded_buffers() -> None:
    trail = [trail_event(n) for n in range(2000)]
    data = json.dumps({"Records": trail}).encode()
    stream = io.BytesIO(data)
    got = base.read_document(stream, Limits(document_fast_bytes=64 << 10))
    assert isinstance(got, base.Streamed)
    assert stream.tell() == (64 << 10) + 1  # read ahead no further than the threshold
    records, rejects = read(cloudtrail, data, Limits(document_fast_bytes=64 << 10))
    assert len(records) == 2000 and rejects == []


@pytest.mark.parametrize(("module", "make"), JSON_READERS, ids=READER_IDS)
def test_a_split_document_cut_short_keeps_the_elements_before_the_cut(module: Any, make: Callable[[int], dict[str, Any]]) -> None:
    packed = gzip.compress(json.dumps([make(n) for n in range(2000)], indent=1).encode())
    cut = gzip.GzipFile(fileobj=io.BytesIO(packed[: len(packed) // 2]))
    records, rejects = read(module, cut, Limits(document_fast_bytes=64 << 10))
    assert 100 < len(records) < 2000
    assert records == read(module, json.dumps([make(n) for n in range(len(records))], indent=1).encode())[0]
    [reject] = rejects
    assert reject.position.startswith("byte ") and "truncated or corrupt" in reject.reason


# ---- end to end ----


def test_the_pipeline_reads_around_a_deep_line(tmp_path: Path) -> None:
    from api_harness import ADMIN, Env

    from gumshoe.ingest.pipeline import GraphStores, Ingestor

    (tmp_path / "env").mkdir()
    env = Env(tmp_path / "env", job_delay=0)
    arn = env.graph(ADMIN)
    stores = GraphStores(env.tmp_path / "data")
    try:
        logs = tmp_path / "logs"
        logs.mkdir()
        events = [{**trail_event(n), "recipientAccountId": ADMIN, "awsRegion": "us-east-1"} for n in (1, 2)]
        (logs / "events.jsonl").write_bytes(dumps(events[0]) + b"\n" + DEEP_ARRAY + b"\n" + dumps(events[1]) + b"\n")
        summary = Ingestor(env.store, stores, env.tmp_path / "data").run([str(logs)])
        assert summary.failed == []
        assert sum(t.rejects for t in summary.tallies.values()) == 1
        with stores.get(arn).cursor() as conn:
            assert conn.execute("SELECT event_id FROM api_events ORDER BY event_id").fetchall() == [("e-1",), ("e-2",)]
    finally:
        stores.close()
        env.close()
