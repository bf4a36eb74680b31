from __future__ import annotations

import datetime
import gzip
import json
import logging
import pathlib
import re
import time
from typing import Any

import pytest

from gumshoe.audit import HIDDEN, AuditTrail

UTC = datetime.UTC
ADMIN = "111111111111"
MEMBER = "222222222222"
NAME = re.compile(r"^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_([A-Za-z0-9]{16})\.json\.gz$")


def at(minute: int, second: int = 0, *, hour: int = 10, day: int = 20) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def call(trail: AuditTrail, **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "account_id": ADMIN,
        "region": "us-east-1",
        "event_name": "ListGraphs",
        "event_time": at(3, 27),
        "request_id": "req-1",
        "source_ip": "127.0.0.1",
        "user_agent": "aws-cli/2.15.0",
        "access_key_id": "AKIAEXAMPLE",
        "request_parameters": {"maxResults": 10},
        "response_elements": None,
        "read_only": True,
    }
    fields.update(overrides)
    trail.record(**fields)


def log_files(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted((root / "AWSLogs").rglob("*.json.gz")) if (root / "AWSLogs").exists() else []


def records_of(path: pathlib.Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as f:
        doc = json.load(f)
    assert list(doc) == ["Records"]
    records: list[dict[str, Any]] = doc["Records"]
    return records


def test_record_lands_in_cloudtrail_layout(tmp_path: pathlib.Path) -> None:
    trail = AuditTrail(tmp_path)
    call(trail)
    assert log_files(tmp_path) == []  # record() alone does no I/O
    trail.flush()

    [path] = log_files(tmp_path)
    rel = path.relative_to(tmp_path)
    assert rel.parts[:-1] == ("AWSLogs", ADMIN, "CloudTrail", "us-east-1", "2026", "11", "20")
    match = NAME.match(path.name)
    assert match is not None
    assert match.group(1, 2, 3) == (ADMIN, "us-east-1", "20261120T1000Z")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind

    [rec] = records_of(path)
    assert rec["eventVersion"] == "1.08"
    assert rec["userIdentity"] == {
        "type": "IAMUser",
        "principalId": ADMIN,
        "accountId": ADMIN,
        "accessKeyId": "AKIAEXAMPLE",
    }
    assert rec["eventTime"] == "2026-11-20T10:03:27Z"
    assert rec["eventSource"] == "detective.amazonaws.com"
    assert rec["eventName"] == "ListGraphs"
    assert rec["awsRegion"] == "us-east-1"
    assert rec["sourceIPAddress"] == "127.0.0.1"
    assert rec["userAgent"] == "aws-cli/2.15.0"
    assert rec["requestParameters"] == {"maxResults": 10}
    assert rec["responseElements"] is None
    assert rec["requestID"] == "req-1"
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", rec["eventID"]
    )
    assert rec["readOnly"] is True
    assert rec["eventType"] == "AwsApiCall"
    assert rec["managementEvent"] is True
    assert rec["recipientAccountId"] == ADMIN
    assert rec["eventCategory"] == "Management"
    assert "errorCode" not in rec and "errorMessage" not in rec


def test_root_identity_and_naive_or_offset_times(tmp_path: pathlib.Path) -> None:
    trail = AuditTrail(tmp_path)
    call(trail, access_key_id=None, event_time=datetime.datetime(2026, 11, 20, 10, 3, 27))
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    call(trail, event_time=datetime.datetime(2026, 11, 20, 12, 4, 0, tzinfo=plus_two))
    trail.flush()
    [path] = log_files(tmp_path)
    root, keyed = records_of(path)
    assert root["userIdentity"] == {
        "type": "Root",
        "principalId": ADMIN,
        "arn": f"arn:aws:iam::{ADMIN}:root",
        "accountId": ADMIN,
    }
    assert root["eventTime"] == "2026-11-20T10:03:27Z"
    assert keyed["eventTime"] == "2026-11-20T10:04:00Z"


def test_error_record(tmp_path: pathlib.Path) -> None:
    trail = AuditTrail(tmp_path)
    call(
        trail,
        event_name="CreateGraph",
        read_only=False,
        error_code="ServiceQuotaExceededException",
        error_message="This account already has a behavior graph.",
    )
    trail.flush()
    [rec] = records_of(log_files(tmp_path)[0])
    assert rec["errorCode"] == "ServiceQuotaExceededException"
    assert rec["errorMessage"] == "This account already has a behavior graph."
    assert rec["readOnly"] is False
    keys = list(rec)
    assert keys.index("userAgent") < keys.index("errorCode") < keys.index("requestParameters")


def test_sensitive_values_are_hidden(tmp_path: pathlib.Path) -> None:
    params: dict[str, Any] = {
        "graphArn": "arn:aws:detective:us-east-1:111111111111:graph:abc",
        "message": "welcome aboard",
        "accounts": [
            {"accountId": MEMBER, "emailAddress": "root@member.example"},
            {"accountId": "333333333333", "emailAddress": "root@other.example"},
        ],
        "tags": {"a": "b"},
    }
    original = json.loads(json.dumps(params))
    trail = AuditTrail(tmp_path)
    call(
        trail,
        event_name="CreateMembers",
        request_parameters=params,
        sensitive_paths=frozenset(
            {"message", "accounts.emailAddress", "absent.key", "tags.missing"}
        ),
    )
    trail.flush()
    [rec] = records_of(log_files(tmp_path)[0])
    assert rec["requestParameters"] == {
        "graphArn": "arn:aws:detective:us-east-1:111111111111:graph:abc",
        "message": HIDDEN,
        "accounts": [
            {"accountId": MEMBER, "emailAddress": HIDDEN},
            {"accountId": "333333333333", "emailAddress": HIDDEN},
        ],
        "tags": {"a": "b"},
    }
    assert params == original  # the caller's dict is untouched


def test_parameters_are_snapshotted_at_record_time(tmp_path: pathlib.Path) -> None:
    params: dict[str, Any] = {"graphArn": "one"}
    trail = AuditTrail(tmp_path)
    call(trail, request_parameters=params)
    params["graphArn"] = "two"
    trail.flush()
    [rec] = records_of(log_files(tmp_path)[0])
    assert rec["requestParameters"] == {"graphArn": "one"}


def test_grouping_by_account_region_and_window(tmp_path: pathlib.Path) -> None:
    trail = AuditTrail(tmp_path)
    expected: dict[tuple[str, str, str, str], list[str]] = {}
    times = [
        (at(0), "2026/11/20", "20261120T1000Z"),
        (at(4, 59), "2026/11/20", "20261120T1000Z"),
        (at(5), "2026/11/20", "20261120T1005Z"),
        (at(59, 59, hour=23), "2026/11/20", "20261120T2355Z"),
        (at(0, 1, hour=0, day=21), "2026/11/21", "20261121T0000Z"),
    ]
    n = 0
    for account in (ADMIN, MEMBER):
        for region in ("us-east-1", "eu-west-2"):
            for when, day, stamp in times:
                for _ in range(3):
                    n += 1
                    call(
                        trail,
                        account_id=account,
                        region=region,
                        event_time=when,
                        request_id=f"r{n}",
                    )
                    expected.setdefault((account, region, day, stamp), []).append(f"r{n}")
    trail.flush()

    found: dict[tuple[str, str, str, str], list[str]] = {}
    for path in log_files(tmp_path):
        rel = path.relative_to(tmp_path / "AWSLogs")
        account, _, region, yyyy, mm, dd, _ = rel.parts
        match = NAME.match(path.name)
        assert match is not None and match.group(1, 2) == (account, region)
        key = (account, region, f"{yyyy}/{mm}/{dd}", match.group(3))
        assert key not in found  # one file per group
        records = records_of(path)
        assert {r["recipientAccountId"] for r in records} == {account}
        assert {r["awsRegion"] for r in records} == {region}
        found[key] = [r["requestID"] for r in records]
    assert found == expected


def test_max_records_per_file_splits(tmp_path: pathlib.Path) -> None:
    trail = AuditTrail(tmp_path, max_records_per_file=4)
    for i in range(10):
        call(trail, request_id=f"r{i}")
    trail.flush()
    files = log_files(tmp_path)
    assert len(files) == 3
    chunks = sorted((records_of(p) for p in files), key=len, reverse=True)
    assert [len(c) for c in chunks] == [4, 4, 2]
    ids = sorted(r["requestID"] for c in chunks for r in c)
    assert ids == sorted(f"r{i}" for i in range(10))


def test_writer_thread_flushes_on_its_own(tmp_path: pathlib.Path) -> None:
    trail = AuditTrail(tmp_path, flush_interval=0.05)
    trail.start()
    try:
        call(trail)
        deadline = time.monotonic() + 5
        while not log_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        [path] = log_files(tmp_path)
        assert len(records_of(path)) == 1
    finally:
        trail.close()


def test_close_flushes_and_stops_thread(tmp_path: pathlib.Path) -> None:
    trail = AuditTrail(tmp_path, flush_interval=3600)
    trail.start()
    thread = trail._thread
    assert thread is not None and thread.is_alive()
    call(trail)
    call(trail, request_id="req-2")
    trail.close()
    assert not thread.is_alive()
    [path] = log_files(tmp_path)
    assert [r["requestID"] for r in records_of(path)] == ["req-1", "req-2"]


def test_buffer_is_bounded(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    trail = AuditTrail(tmp_path, max_buffered=5)
    for i in range(8):
        call(trail, request_id=f"r{i}")
    with caplog.at_level(logging.WARNING, logger="gumshoe.audit"):
        trail.flush()
    [path] = log_files(tmp_path)
    assert [r["requestID"] for r in records_of(path)] == [f"r{i}" for i in range(3, 8)]
    assert any("dropped the 3 oldest" in r.getMessage() for r in caplog.records)


def test_write_failure_is_logged_not_raised(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    trail = AuditTrail(blocker)
    call(trail)
    with caplog.at_level(logging.ERROR, logger="gumshoe.audit"):
        trail.flush()
    assert any(r.name == "gumshoe.audit" and r.levelno == logging.ERROR for r in caplog.records)
    call(trail)  # still usable afterwards


def test_unserializable_values_do_not_raise(tmp_path: pathlib.Path) -> None:
    trail = AuditTrail(tmp_path)
    call(trail, response_elements={"thing": object()})
    trail.flush()
    [rec] = records_of(log_files(tmp_path)[0])
    assert rec["responseElements"]["thing"].startswith("<object object")
