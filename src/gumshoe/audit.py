"""CloudTrail-style audit log of the Detective API calls the server answers.

Records are buffered in memory by ``record()`` (called on the request path, so it never
does I/O) and written by a background thread as gzip JSON files in CloudTrail's S3 layout:
``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz``.
One file holds the records of one account, region and 5-minute window of event time.
"""

from __future__ import annotations

import collections
import datetime
import gzip
import logging
import os
import pathlib
import random
import secrets
import string
import tempfile
import threading
from typing import Any

import orjson

logger = logging.getLogger("gumshoe.audit")

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
EVENT_VERSION = "1.08"
EVENT_SOURCE = "detective.amazonaws.com"
WINDOW_SECONDS = 300

_ALPHANUMERICS = string.ascii_letters + string.digits

# (account, region, window start in epoch seconds), serialized record
_Entry = tuple[tuple[str, str, int], bytes]


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def _hide(value: Any, path: list[str]) -> Any:
    """Return ``value`` with the keys along ``path`` hidden, copying only what changes."""
    if not path:
        return HIDDEN
    if isinstance(value, list):
        return [_hide(item, path) for item in value]
    if isinstance(value, dict) and path[0] in value:
        copy = dict(value)
        copy[path[0]] = _hide(value[path[0]], path[1:])
        return copy
    return value


def hide_sensitive(params: dict[str, Any] | None, paths: frozenset[str]) -> dict[str, Any] | None:
    if not params or not paths:
        return params
    hidden: Any = params
    for path in sorted(paths):
        hidden = _hide(hidden, path.split("."))
    result: dict[str, Any] = hidden
    return result


def _json_default(value: Any) -> Any:
    # Anything orjson cannot serialize is logged as its text rather than failing the call.
    return str(value)


class AuditTrail:
    def __init__(
        self,
        data_dir: pathlib.Path,
        *,
        flush_interval: float = 5.0,
        max_records_per_file: int = 1000,
        max_buffered: int = 100_000,
    ) -> None:
        if max_records_per_file < 1 or max_buffered < 1:
            raise ValueError("max_records_per_file and max_buffered must be positive")
        self.data_dir = pathlib.Path(data_dir)
        self.flush_interval = flush_interval
        self.max_records_per_file = max_records_per_file
        self.max_buffered = max_buffered
        self._buffer: collections.deque[_Entry] = collections.deque()
        self._lock = threading.Lock()
        # Serializes writers so flush() returns only once what was buffered is on disk,
        # even when the background thread took the batch first.
        self._write_lock = threading.Lock()
        self._dropped = 0
        self._common: dict[tuple[Any, ...], bytes] = {}
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="gumshoe-audit", daemon=True)
        self._thread.start()

    def record(
        self,
        *,
        account_id: str,
        region: str,
        event_name: str,
        event_time: datetime.datetime,
        request_id: str,
        source_ip: str | None,
        user_agent: str | None,
        access_key_id: str | None,
        request_parameters: dict[str, Any] | None,
        response_elements: dict[str, Any] | None,
        error_code: str | None = None,
        error_message: str | None = None,
        read_only: bool = False,
        sensitive_paths: frozenset[str] = frozenset(),
    ) -> None:
        try:
            when = _utc(event_time)
            # What repeats from call to call (who, from where, which operation) is serialized
            # once and kept; each record adds only what is its own.
            key = (account_id, region, event_name, source_ip, user_agent, access_key_id, read_only)
            common = self._common.get(key)
            if common is None:
                common = self._common_part(*key)
            own: dict[str, Any] = {"eventTime": _event_time(when)}
            if error_code is not None:
                own["errorCode"] = error_code
                own["errorMessage"] = error_message
            own["requestParameters"] = hide_sensitive(request_parameters, sensitive_paths)
            own["responseElements"] = response_elements
            own["requestID"] = request_id
            own["eventID"] = _event_id()
            # Serializing now snapshots the caller's dicts, which may change after the call.
            data = common + orjson.dumps(own, default=_json_default)[1:]
            seconds = int(when.timestamp())
            entry: _Entry = ((account_id, region, seconds - seconds % WINDOW_SECONDS), data)
        except Exception:
            logger.exception("could not build the audit record of %s", event_name)
            return
        with self._lock:
            if len(self._buffer) >= self.max_buffered:
                self._buffer.popleft()
                self._dropped += 1
            self._buffer.append(entry)
            full = len(self._buffer) >= self.max_records_per_file
        if full:
            self._wake.set()

    def _common_part(self, account_id: str, region: str, event_name: str, source_ip: str | None,
                     user_agent: str | None, access_key_id: str | None, read_only: bool) -> bytes:
        """The opening of a record's JSON object with the members calls share, ending in a comma."""
        identity: dict[str, Any] = {"type": "IAMUser" if access_key_id else "Root", "principalId": account_id}
        if not access_key_id:
            identity["arn"] = f"arn:aws:iam::{account_id}:root"
        identity["accountId"] = account_id
        if access_key_id:
            identity["accessKeyId"] = access_key_id
        common = orjson.dumps({
            "eventVersion": EVENT_VERSION, "userIdentity": identity, "eventSource": EVENT_SOURCE,
            "eventName": event_name, "awsRegion": region, "sourceIPAddress": source_ip, "userAgent": user_agent,
            "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": True,
            "recipientAccountId": account_id, "eventCategory": "Management",
        })[:-1] + b","
        if len(self._common) >= 4096:
            self._common.clear()
        self._common[(account_id, region, event_name, source_ip, user_agent, access_key_id, read_only)] = common
        return common

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, collections.deque()
                dropped, self._dropped = self._dropped, 0
            if dropped:
                logger.warning("audit buffer full: dropped the %d oldest records", dropped)
            if batch:
                self._write(batch)

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping = True
            self._wake.set()
            thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the writer thread must outlive any failure
                logger.exception("audit flush failed")

    def _write(self, batch: collections.deque[_Entry]) -> None:
        groups: dict[tuple[str, str, int], list[bytes]] = {}
        for key, data in batch:
            groups.setdefault(key, []).append(data)
        for (account, region, window), records in groups.items():
            size = self.max_records_per_file
            for start in range(0, len(records), size):
                chunk = records[start : start + size]
                try:
                    self._write_file(account, region, window, chunk)
                except OSError:
                    logger.exception(
                        "could not write %d audit records of account %s in %s",
                        len(chunk),
                        account,
                        region,
                    )

    def _write_file(self, account: str, region: str, window: int, records: list[bytes]) -> None:
        moment = datetime.datetime.fromtimestamp(window, datetime.UTC)
        folder = (
            self.data_dir
            / "AWSLogs"
            / account
            / "CloudTrail"
            / region
            / moment.strftime("%Y/%m/%d")
        )
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "".join(secrets.choice(_ALPHANUMERICS) for _ in range(16))
        name = f"{account}_CloudTrail_{region}_{moment.strftime('%Y%m%dT%H%MZ')}_{suffix}.json.gz"
        # Level 1: about half of level 6's CPU for somewhat larger files; this thread shares the
        # server's core with the requests it records.
        body = gzip.compress(b'{"Records":[' + b",".join(records) + b"]}", compresslevel=1)
        # A dot-prefixed temp file in the same folder, renamed into place: readers either see
        # the whole file or nothing.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(tmp, folder / name)
        except BaseException:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise


_last_second: list[Any] = [None, ""]


def _event_time(when: datetime.datetime) -> str:
    # Many records share a second; formatting once per second is a measurable share of a call.
    second = int(when.timestamp())
    if _last_second[0] != second:
        _last_second[0] = second
        _last_second[1] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(_last_second[1])


def _event_id() -> str:
    # Unique, not secret: the process's PRNG instead of a system call per record.
    h = f"{random.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"
