"""EKS audit logs: Kubernetes audit events (``audit.k8s.io/v1``) as EKS delivers them.

The Kubernetes API server writes one audit event per request stage; an event is a JSON
object with ``"kind": "Event"`` and ``"apiVersion": "audit.k8s.io/v1"`` and the fields
auditID, stage, verb, requestURI, user {username, groups}, impersonatedUser, sourceIPs,
userAgent, objectRef {resource, namespace, name, subresource}, responseStatus {code},
annotations and requestReceivedTimestamp / stageTimestamp (RFC 3339, microseconds).
EKS sends them to CloudWatch Logs (log group ``/aws/eks/<cluster>/cluster``, log streams
``kube-apiserver-audit-*``), from where they reach files in these shapes, all read here:

* JSON lines, one event per line;
* a JSON array of events (or a Kubernetes ``EventList`` with ``items``), on one line or
  pretty-printed over many (the whole document is then read at once, up to
  ``base.DOCUMENT_FAST_BYTES``; a larger one, or one nested too deeply to decode whole, is
  split element by element with ``base.split_json``: arrays, ``items``, ``logEvents`` and
  ``events`` lists, values back to back);
* CloudWatch Logs exports and copies: lines whose object has a string ``message`` holding
  the event's JSON (``{"timestamp": ..., "message": "{...}"}``), lines of
  ``<timestamp> <event JSON>`` (an export task's form), and subscription envelopes
  ``{"owner": ..., "logGroup": ..., "logEvents": [{"message": "{...}"}, ...]}``, including
  several envelopes written back to back without a newline (Firehose), and
  ``aws logs filter-log-events`` output (``{"events": [{"message": ...}]}``);
* an EventBridge-style envelope whose ``detail`` is the event.

One request produces up to three events (RequestReceived, ResponseStarted,
ResponseComplete); only ``ResponseComplete`` and ``Panic`` become records, the others count
in ``Batch.skipped``, so a request is counted once. A record needs auditID, verb,
user.username and a timestamp (requestReceivedTimestamp, else stageTimestamp); an event
without them, or a line that is not JSON, becomes a reject with its line number.

The event does not name its account, Region or cluster. The account comes from an envelope
(``owner``, ``account``) or else the key (``AWSLogs/<12 digits>/``); the Region from an
envelope's ``region`` or a Region-shaped folder after the account in the key; the cluster
from a ``cluster``/``clusterName`` field, a ``cluster`` annotation, the log group
``/aws/eks/<cluster>/cluster`` or such a path in the key. Each is "" when nothing says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import BinaryIO, cast

import msgspec

from gumshoe.formats import base
from gumshoe.formats.base import Batch, Reject
from gumshoe.formats.sql import HOUR_MS

KIND = "eks_audit"
PACKAGE = base.EKS_AUDIT

RECORD_STAGES = frozenset({"ResponseComplete", "Panic"})
OTHER_STAGES = frozenset({"RequestReceived", "ResponseStarted"})
DECISION_ANNOTATION = "authorization.k8s.io/decision"
_MAX_NESTING = 4  # envelope in envelope in ... before giving up


class AuditEvent(msgspec.Struct, gc=False):
    """One Kubernetes API request, from its ResponseComplete (or Panic) audit event."""

    account_id: str
    region: str
    time_ms: int  # requestReceivedTimestamp (else stageTimestamp), epoch ms
    size: int  # bytes of the raw event
    audit_id: str
    stage: str
    verb: str
    request_uri: str
    username: str
    groups: list[str]
    user_agent: str
    source_ips: list[str]
    resource: str
    namespace: str
    name: str
    subresource: str
    response_code: int  # -1 when absent
    decision: str  # "allow", "forbid" or ""
    cluster: str
    impersonated_user: str  # impersonatedUser.username or ""


# --- what a line may decode to: an event, a wrapper of events, or both shapes' fields ---


class _User(msgspec.Struct, gc=False):
    username: str | None = None
    groups: list[str] | None = None


class _ObjectRef(msgspec.Struct, gc=False):
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""


class _Status(msgspec.Struct, gc=False):
    code: int | None = None


class _LogEvent(msgspec.Struct, gc=False):
    message: str | None = None


class _Object(msgspec.Struct, gc=False):
    """The union of an audit event's fields and its wrappers' fields (all optional)."""

    kind: str | None = None
    api_version: str | None = msgspec.field(default=None, name="apiVersion")
    audit_id: str | None = msgspec.field(default=None, name="auditID")
    stage: str | None = None
    verb: str | None = None
    request_uri: str | None = msgspec.field(default=None, name="requestURI")
    user: _User | None = None
    impersonated_user: _User | None = msgspec.field(default=None, name="impersonatedUser")
    user_agent: str | None = msgspec.field(default=None, name="userAgent")
    source_ips: list[str] | None = msgspec.field(default=None, name="sourceIPs")
    object_ref: _ObjectRef | None = msgspec.field(default=None, name="objectRef")
    response_status: _Status | None = msgspec.field(default=None, name="responseStatus")
    annotations: dict[str, object] | None = None
    received: str | None = msgspec.field(default=None, name="requestReceivedTimestamp")
    stage_time: str | None = msgspec.field(default=None, name="stageTimestamp")
    items: list[msgspec.Raw] | None = None  # EventList
    # wrappers
    message: str | None = None
    log_events: list[_LogEvent] | None = msgspec.field(default=None, name="logEvents")
    events: list[_LogEvent] | None = None  # ``aws logs filter-log-events`` output
    detail: msgspec.Raw = msgspec.Raw()  # (msgspec takes Raw alone, not in a union)
    owner: str | None = None
    account: str | None = None
    region: str | None = None
    log_group: str | None = msgspec.field(default=None, name="logGroup")
    cluster: str | None = None
    cluster_name: str | None = msgspec.field(default=None, name="clusterName")


_decode_object = cast(Callable[[bytes | str], _Object], msgspec.json.Decoder(_Object).decode)
_decode_array = cast(Callable[[bytes | str], list[msgspec.Raw]], msgspec.json.Decoder(list[msgspec.Raw]).decode)
_decode_log_event = cast(Callable[[bytes | str], _LogEvent], msgspec.json.Decoder(_LogEvent).decode)
_LISTS = ("items", "logEvents", "events")  # the wrappers' lists a large document is split into
HEAD_BYTES = 64 * 1024  # what tells a document from lines

_ACCOUNT = re.compile(r"\d{12}", re.ASCII)
_KEY_ACCOUNT = re.compile(r"AWSLogs/(?:[^/]+/)?(?:aws-account-id=)?(\d{12})/", re.ASCII)
_KEY_REGION = re.compile(r"/([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)/", re.ASCII)
_CLUSTER_PATH = re.compile(r"/aws/eks/([^/]+)/")
_EXPORT_LINE = re.compile(rb"\d{4}-\d\d-\d\d[T ][^ ]* ")  # "<timestamp> " before a message
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))", re.ASCII
)
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_EPOCH_DAY = date(1970, 1, 1).toordinal()


class _EventError(Exception):
    """An object that is not a readable audit event; the message is the reason."""


@dataclass(frozen=True)
class _Where:
    """What the event itself does not say: from the key and any envelope around it."""

    account: str = ""
    region: str = ""
    cluster: str = ""


class _Collector:
    """Records and rejects into batches of at most ``limit`` entries."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.batch: Batch[AuditEvent] = Batch()
        self.ready: list[Batch[AuditEvent]] = []

    def record(self, event: AuditEvent) -> None:
        self.batch.records.append(event)
        self._check()

    def reject(self, position: str, reason: str, raw: bytes | str) -> None:
        data = raw[: base.REJECT_RAW_BYTES].encode() if isinstance(raw, str) else raw
        self.batch.rejects.append(Reject(position, reason, base.raw_excerpt(data)))
        self._check()

    def rejected(self, reject: Reject) -> None:
        self.batch.rejects.append(reject)
        self._check()

    def skip(self) -> None:
        self.batch.skipped += 1

    def take_ready(self) -> list[Batch[AuditEvent]]:
        ready, self.ready = self.ready, []
        return ready

    def finish(self) -> list[Batch[AuditEvent]]:
        batch = self.batch
        if batch.records or batch.rejects or batch.skipped:
            self.ready.append(batch)
            self.batch = Batch()
        return self.take_ready()

    def _check(self) -> None:
        if len(self.batch.records) + len(self.batch.rejects) >= self.limit:
            self.ready.append(self.batch)
            self.batch = Batch()


def sniff(head: bytes, name: str) -> bool:
    """JSON (or ``<timestamp> {json}`` lines) that names ``audit.k8s.io`` early on, and is
    not a CloudTrail ``{"Records": [...]}`` document."""
    text = head.lstrip()
    if text[:1] not in (b"{", b"[") and not _EXPORT_LINE.match(text):
        return False
    if b'"Records"' in text[:256] and b'"eventVersion"' in text:
        return False
    return b"audit.k8s.io/" in head


def read(stream: BinaryIO, name: str, limits: base.Limits | None = None) -> Iterator[Batch[AuditEvent]]:
    """Batches of audit events, in object order."""
    yield from base.guarded(_read(stream, name, limits or base.DEFAULT_LIMITS))


def _read(stream: BinaryIO, name: str, limits: base.Limits) -> Iterator[Batch[AuditEvent]]:
    out = _Collector(max(1, base.BATCH_RECORDS))
    where = _where_from_key(name)
    head, error = base.read_head(stream, HEAD_BYTES)
    rest = base.Rejoined(head, base.Failing(error) if error is not None else stream)
    first = _document_start(head, whole=error is None and len(head) < HEAD_BYTES)
    if first:
        yield from _read_whole(rest, first, where, out, limits)
        return
    for item in base.iter_lines(rest, limits.chunk_bytes, limits.max_record_bytes):
        if isinstance(item, Reject):  # a line too long, or the end of a stream that failed
            out.rejected(item)
        else:
            number, line = item
            text = line.strip()
            if text:
                _read_line(number, text, where, out)
        yield from out.take_ready()
    yield from out.finish()


def _document_start(head: bytes, whole: bool) -> int:
    """The line number where a JSON document (rather than lines) starts, from the object's
    first bytes (``whole``: all of it), or 0: an array, or a first line with text that opens a
    JSON value going on past it — unless the next line with text is a JSON object of its own
    (JSON lines whose first line is cut short). A first line longer than ``head`` is a line."""
    lines = head.split(b"\n")
    complete = len(lines) if whole else len(lines) - 1  # lines wholly in the head
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        if text[:1] == b"[":
            return number
        if number > complete or not _starts_document(text):
            return 0
        for after in lines[number:complete]:
            following = after.strip()
            if following:
                return 0 if following[:1] == b"{" and _decodes(following) else number
        return number
    return 0


def _starts_document(text: bytes) -> bool:
    """Whether the first line with text opens a JSON value that goes on past it."""
    if text[:1] not in (b"{", b"["):
        return False
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        return "truncated" in str(exc)
    except RecursionError:  # a value nested deeply, on a line of its own
        return False
    return False


def _read_whole(stream: base.Stream, number: int, where: _Where, out: _Collector,
                limits: base.Limits) -> Iterator[Batch[AuditEvent]]:
    """A JSON document (starting on line ``number``): read whole, or split when large."""
    data = base.read_document(stream, limits)
    if isinstance(data, Reject):
        out.reject(data.position, f"{data.reason} (inside a JSON document starting on line {number})", data.raw)
    elif isinstance(data, base.Streamed):
        yield from _read_elements(base.split_json(data, keys=_LISTS, sequence=True, limits=limits), where, out)
    else:
        yield from _read_document(data, where, out, limits)
    yield from out.finish()


def _read_line(number: int, text: bytes, where: _Where, out: _Collector) -> None:
    position = f"line {number}"
    if text[:1] not in (b"{", b"["):
        prefix = _EXPORT_LINE.match(text)
        if prefix is None or text[prefix.end() : prefix.end() + 1] != b"{":
            out.reject(position, "the line is not JSON", text)
            return
        text = text[prefix.end() :]
    _read_value(position, text, where, out)


def _read_value(position: str, text: bytes, where: _Where, out: _Collector) -> None:
    """One JSON text: an object or array, or several objects written back to back."""
    error = _try_value(position, text, where, out)
    if error is None:
        return
    values = _split_values(text)
    if len(values) < 2:
        out.reject(position, _json_error(error), text)
        return
    for index, value in enumerate(values, 1):
        here = f"{position}, value {index}"
        inner = _try_value(here, value, where, out)
        if inner is not None:
            out.reject(here, _json_error(inner), value)


def _try_value(position: str, text: bytes, where: _Where, out: _Collector, item: str = "",
               limits: base.Limits | None = None) -> msgspec.DecodeError | None:
    """Takes an object or array of events (array items at "<item> N", by default
    "<position>, event N"); returns the error, having taken nothing, when the text is not
    JSON. A text nested too deeply to decode whole is split (a whole document, with
    ``limits``) or one reject."""
    try:
        if text[:1] == b"[":
            _take_array(item or f"{position}, event", _decode_array(text), where, out)
        else:
            _take(position, _decode_object(text), len(text), text, where, out, 0)
    except msgspec.ValidationError as exc:  # JSON, but not shaped like an event or wrapper
        out.reject(position, f"not an audit event: {exc}", text)
    except msgspec.DecodeError as exc:
        return exc
    except Exception as exc:  # raised by the decode: nothing was taken (events' own errors are caught by event)
        if limits is not None and isinstance(exc, RecursionError):
            wrapper = _Wrapper(where)
            for element in base.split_json(base.Streamed([text], None), keys=_LISTS, sequence=True, limits=limits):
                _take_element(element, where, wrapper, out)
        else:
            out.reject(position, base.unreadable(exc), text)
    return None


def _read_document(data: bytes, where: _Where, out: _Collector, limits: base.Limits) -> Iterator[Batch[AuditEvent]]:
    """A JSON document spread over lines (or several, back to back), read whole, taken
    apart. If not even its first value decodes (JSON lines whose first line is cut short look
    like this), its lines are read one by one instead."""
    document = data.strip()
    if _try_value("record 1", document, where, out, item="record", limits=limits) is None:
        yield from out.take_ready()
        return
    values = _split_values(document)
    if len(values) > 1 and _decodes(values[0]):  # values back to back, perhaps with junk
        for index, value in enumerate(values, 1):
            error = _try_value(f"record {index}", value, where, out, item=f"record {index}, event")
            if error is not None:
                out.reject(f"record {index}", _json_error(error), value)
            yield from out.take_ready()
        return
    for line_number, line in enumerate(data.split(b"\n"), 1):
        text = line.strip()
        if text:
            _read_line(line_number, text, where, out)
            yield from out.take_ready()


def _read_elements(elements: Iterator[base.Element], where: _Where, out: _Collector) -> Iterator[Batch[AuditEvent]]:
    """The events of a document split element by element (base.split_json), batch by batch."""
    wrapper = _Wrapper(where)
    for element in elements:
        _take_element(element, where, wrapper, out)
        yield from out.take_ready()


class _Wrapper:
    """What the members of the wrapper whose list is being split say (read once per list)."""

    def __init__(self, where: _Where) -> None:
        self.context = b""
        self.where = where


def _take_element(element: base.Element, where: _Where, wrapper: _Wrapper, out: _Collector) -> None:
    """One element of a split document, at the position the document read whole gives it."""
    if element.ends:
        out.reject(f"byte {element.offset}", element.error, element.raw)
    elif element.index == 0:  # a top-level value that holds no list to split
        position = f"record {element.value}"
        if element.error:
            out.reject(position, element.error, element.raw)
        else:
            error = _try_value(position, element.raw, where, out, item=f"record {element.value}, event")
            if error is not None:
                out.reject(position, _json_error(error), element.raw)
    elif not element.key:  # an element of a top-level array
        position = f"record {element.index}" if element.value == 1 else f"record {element.value}, event {element.index}"
        if element.error:
            out.reject(position, element.error, element.raw)
        else:
            _take_raw(position, element.raw, where, out, 0)
    else:  # an element of a wrapper's list
        if element.context is not wrapper.context:
            wrapper.context = element.context
            wrapper.where = _where_from_context(element.context, where)
        label = "item" if element.key == "items" else "log event"
        position = f"record {element.value}, {label} {element.index}"
        if element.error:
            out.reject(position, element.error, element.raw)
        elif label == "item":
            _take_raw(position, element.raw, wrapper.where, out, 0)
        else:
            _take_log_event(position, element.raw, wrapper.where, out)


def _where_from_context(context: bytes, where: _Where) -> _Where:
    """What a wrapper's members before its list (owner, logGroup, ...) say."""
    try:
        return _where_from_envelope(_decode_object(context), where)
    except Exception:  # members of unexpected types: the wrapper says nothing
        return where


def _take_log_event(position: str, raw: bytes, where: _Where, out: _Collector) -> None:
    try:
        log_event = _decode_log_event(raw)
    except Exception as exc:
        reason = f"not a log event: {exc}" if isinstance(exc, msgspec.DecodeError) else base.unreadable(exc)
        out.reject(position, reason, raw)
        return
    if log_event.message is None:
        out.reject(position, "log event without a message", b"")
    else:
        _take_message(position, log_event.message, where, out, 0)


def _json_error(error: msgspec.DecodeError) -> str:
    text = str(error)
    return text if text.startswith("JSON") else f"malformed JSON: {text}"


def _decodes(text: bytes) -> bool:
    try:
        msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def _take_array(prefix: str, items: list[msgspec.Raw], where: _Where, out: _Collector) -> None:
    for index, raw in enumerate(items, 1):
        data = bytes(raw)
        try:
            event = _decode_object(data)
        except msgspec.DecodeError as exc:
            out.reject(f"{prefix} {index}", f"not an audit event: {exc}", data)
            continue
        except Exception as exc:  # whatever it is, one event's
            out.reject(f"{prefix} {index}", base.unreadable(exc), data)
            continue
        _take(f"{prefix} {index}", event, len(data), data, where, out, 1)


def _take(position: str, obj: _Object, size: int, raw: bytes | str, where: _Where, out: _Collector, depth: int) -> None:
    """An event becomes a record (or a skip, or a reject); a wrapper is opened."""
    if depth > _MAX_NESTING:
        out.reject(position, "envelopes nested too deep", raw)
        return
    if obj.audit_id is None and obj.kind != "Event" and _open_wrapper(position, obj, where, out, depth):
        return
    try:
        event = _event(obj, size, where)
    except _EventError as exc:
        out.reject(position, str(exc), raw)
        return
    except Exception as exc:  # whatever it is, one event's
        out.reject(position, base.unreadable(exc), raw)
        return
    if event is None:
        out.skip()
    else:
        out.record(event)


def _open_wrapper(position: str, obj: _Object, where: _Where, out: _Collector, depth: int) -> bool:
    """The events inside a wrapper object; False when the object is no wrapper."""
    inner = _where_from_envelope(obj, where)
    if obj.message is not None:
        _take_message(position, obj.message, inner, out, depth)
    elif obj.log_events is not None or obj.events is not None:
        for index, log_event in enumerate(obj.log_events or obj.events or [], 1):
            here = f"{position}, log event {index}"
            if log_event.message is None:
                out.reject(here, "log event without a message", b"")
            else:
                _take_message(here, log_event.message, inner, out, depth)
    elif obj.items is not None:
        for index, raw in enumerate(obj.items, 1):
            _take_raw(f"{position}, item {index}", bytes(raw), inner, out, depth)
    elif bytes(obj.detail).startswith(b"{"):
        _take_raw(f"{position}, detail", bytes(obj.detail), inner, out, depth)
    else:
        return False
    return True


def _take_message(position: str, message: str, where: _Where, out: _Collector, depth: int) -> None:
    """A CloudWatch log event's message: an audit event as text."""
    size = len(message) if message.isascii() else len(message.encode())
    _take_text(position, message, size, "the message is not an audit event", where, out, depth)


def _take_raw(position: str, data: bytes, where: _Where, out: _Collector, depth: int) -> None:
    _take_text(position, data, len(data), "not an audit event", where, out, depth)


def _take_text(position: str, text: str | bytes, size: int, not_an_event: str, where: _Where, out: _Collector,
               depth: int) -> None:
    """Decode one event (or wrapper) and take it; whatever fails is that one text's reject."""
    try:
        obj = _decode_object(text)
    except msgspec.DecodeError as exc:
        out.reject(position, f"{not_an_event}: {exc}", text)
        return
    except Exception as exc:  # whatever it is, one event's
        out.reject(position, base.unreadable(exc), text)
        return
    _take(position, obj, size, text, where, out, depth + 1)


def _event(obj: _Object, size: int, where: _Where) -> AuditEvent | None:
    """The record of an audit event, None for a stage that is not recorded."""
    if obj.kind is None and obj.api_version is None and obj.audit_id is None:
        raise _EventError("not a Kubernetes audit event (no kind, apiVersion or auditID)")
    if obj.kind is not None and obj.kind != "Event":
        raise _EventError(f"not a Kubernetes audit event: kind {obj.kind!r}")
    if obj.api_version is not None and not obj.api_version.startswith("audit.k8s.io/"):
        raise _EventError(f"not a Kubernetes audit event: apiVersion {obj.api_version!r}")
    if obj.stage is None:
        raise _EventError("missing stage")
    if obj.stage not in RECORD_STAGES:
        if obj.stage in OTHER_STAGES:
            return None
        raise _EventError(f"unknown stage {obj.stage!r}")
    if not obj.audit_id:
        raise _EventError("missing auditID")
    if not obj.verb:
        raise _EventError("missing verb")
    user = obj.user
    if user is None or not user.username:
        raise _EventError("missing user.username")
    stamp = obj.received or obj.stage_time
    if not stamp:
        raise _EventError("missing requestReceivedTimestamp and stageTimestamp")
    ref = obj.object_ref or _EMPTY_REF
    annotations = obj.annotations or {}
    decision = annotations.get(DECISION_ANNOTATION)
    status = obj.response_status
    code = status.code if status is not None and status.code is not None else -1
    return AuditEvent(
        account_id=where.account,
        region=where.region,
        time_ms=epoch_ms(stamp),
        size=size,
        audit_id=obj.audit_id,
        stage=obj.stage,
        verb=obj.verb,
        request_uri=obj.request_uri or "",
        username=user.username,
        groups=user.groups or [],
        user_agent=obj.user_agent or "",
        source_ips=obj.source_ips or [],
        resource=ref.resource,
        namespace=ref.namespace,
        name=ref.name,
        subresource=ref.subresource,
        response_code=code,
        decision=decision if isinstance(decision, str) else "",
        cluster=_cluster_of(obj, annotations) or where.cluster,
        impersonated_user=(obj.impersonated_user.username or "") if obj.impersonated_user else "",
    )


_EMPTY_REF = _ObjectRef()


def epoch_ms(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp (any number of fraction digits,
    truncated to the millisecond); _EventError when it is not one."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise _EventError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
    except ValueError:
        raise _EventError(f"not an RFC 3339 timestamp: {text!r}") from None
    if int(hour) > 23 or int(minute) > 59 or int(second) > 59:
        raise _EventError(f"not an RFC 3339 timestamp: {text!r}")
    seconds = days * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second)
    if zulu is None:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds -= offset if sign == "+" else -offset
    millis = int((fraction or "")[:3].ljust(3, "0"))
    return seconds * 1000 + millis


def _cluster_of(obj: _Object, annotations: dict[str, object]) -> str:
    hint = obj.cluster or obj.cluster_name or annotations.get("cluster")
    return hint if isinstance(hint, str) else ""


def _where_from_envelope(obj: _Object, where: _Where) -> _Where:
    account = obj.owner or obj.account
    cluster = obj.cluster or obj.cluster_name
    if cluster is None and obj.log_group:
        found = _CLUSTER_PATH.search(obj.log_group + "/")
        cluster = found.group(1) if found else None
    return replace(
        where,
        account=account if account and _ACCOUNT.fullmatch(account) else where.account,
        region=obj.region or where.region,
        cluster=cluster or where.cluster,
    )


def _where_from_key(name: str) -> _Where:
    """Account (``AWSLogs/<account>/``), a Region-shaped folder after it, and a cluster
    named by an ``/aws/eks/<cluster>/`` path, from the object's key."""
    account = _KEY_ACCOUNT.search(name)
    region = _KEY_REGION.search(name, account.end() - 1) if account else None
    cluster = _CLUSTER_PATH.search(name)
    return _Where(
        account=account.group(1) if account else "",
        region=region.group(1) if region else "",
        cluster=cluster.group(1) if cluster else "",
    )


def _split_values(data: bytes) -> list[bytes]:
    """Top-level JSON objects and arrays written one after another (``{...}{...}``), found
    by skipping strings and counting brackets; text outside them is returned as its own
    piece so that it is rejected rather than lost."""
    values: list[bytes] = []
    depth = 0
    start = 0
    end = 0
    for token in _JSON_TOKEN.finditer(data):
        char = data[token.start()]
        if char == 0x22:  # a string
            continue
        if char in (0x7B, 0x5B):  # { [
            if depth == 0:
                _keep_gap(data[end : token.start()], values)
                start = token.start()
            depth += 1
        elif depth > 0:  # } ]
            depth -= 1
            if depth == 0:
                end = token.end()
                values.append(data[start:end])
    _keep_gap(data[start if depth else end :], values)
    return values


def _keep_gap(text: bytes, values: list[bytes]) -> None:
    if text.strip():
        values.append(text.strip())


# --- In the behavior graph (graph/store.py builds its tables from these) ---------------

# The raw table of these records and its columns (attribute names of the record type); the
# graph store adds object_ref, the object a row came from.
RAW_TABLE = "k8s_events"
RAW_DDL = """
CREATE TABLE IF NOT EXISTS k8s_events (
    object_ref VARCHAR, time_ms BIGINT, account_id VARCHAR, region VARCHAR, cluster VARCHAR,
    audit_id VARCHAR, verb VARCHAR, request_uri VARCHAR, username VARCHAR, user_agent VARCHAR,
    source_ips VARCHAR[], resource VARCHAR, namespace VARCHAR, name VARCHAR, response_code INTEGER
);
"""
RAW_COLUMNS = ("time_ms", "account_id", "region", "cluster", "audit_id", "verb", "request_uri", "username",
        "user_agent", "source_ips", "resource", "namespace", "name", "response_code",
)
# The entities, links and hourly panel rows of one batch of these records (the view
# ``batch``), aggregated per batch: the store adds their integer keys and sums them later.
DERIVED = [
    """INSERT INTO entities
    SELECT t, i, min(a), min(time_ms), max(time_ms), count(*) FROM (
        SELECT 'eks_cluster' AS t, cluster AS i, account_id AS a, time_ms FROM batch WHERE cluster <> ''
        UNION ALL SELECT 'kubernetes_user', username, account_id, time_ms FROM batch WHERE username <> ''
        UNION ALL SELECT 'ip_address', unnest(source_ips), account_id, time_ms FROM batch
    ) GROUP BY t, i""",
    f"""INSERT INTO links
    SELECT st, si, k, dt, di, time_ms // {HOUR_MS}, count(*), 0, min(time_ms), max(time_ms) FROM (
        SELECT 'kubernetes_user' AS st, username AS si, 'called' AS k, 'eks_cluster' AS dt, cluster AS di, time_ms
            FROM batch WHERE username <> '' AND cluster <> ''
        UNION ALL SELECT 'kubernetes_user', username, 'connected_from', 'ip_address', unnest(source_ips), time_ms
            FROM batch WHERE username <> ''
    ) GROUP BY ALL""",
    f"""INSERT INTO hourly
    SELECT et, ei, time_ms // {HOUR_MS}, d, v, count(*) FILTER (WHERE response_code < 400),
           count(*) FILTER (WHERE response_code >= 400), 0 FROM (
        SELECT 'kubernetes_user' AS et, username AS ei, 'kubernetes_api' AS d,
               verb || ' ' || COALESCE(NULLIF(resource, ''), request_uri) AS v, time_ms, response_code
            FROM batch WHERE username <> ''
        UNION ALL SELECT 'kubernetes_user', username, 'user_agent', user_agent, time_ms, response_code
            FROM batch WHERE username <> '' AND user_agent <> ''
        UNION ALL SELECT 'eks_cluster', cluster, 'kubernetes_api', verb || ' ' || COALESCE(NULLIF(resource, ''), request_uri),
            time_ms, response_code FROM batch WHERE cluster <> ''
    ) GROUP BY ALL""",
]
