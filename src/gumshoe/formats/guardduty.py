"""Amazon GuardDuty findings, in every form they are stored or exported.

Formats read (the content decides which; gzip is opened by the source layer):

- GuardDuty's export to S3 (``AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.jsonl.gz``):
  JSON lines, one finding object per line.
- EventBridge events ``{"detail-type": "GuardDuty Finding", "source": "aws.guardduty",
  "detail": {finding}}``, one per line (as Firehose delivers them to S3) or in a JSON array.
  Other ``aws.guardduty`` events (scan results, CloudTrail API calls) carry no finding and are
  counted as skipped; events from another source are rejected.
- GetFindings output ``{"Findings": [...]}``, both the API's own form (``findings``, lowerCamel
  members) and the AWS CLI / boto3 form (``Findings``, PascalCase members, as written by
  ``aws guardduty get-findings > findings.json``). PascalCase findings are turned into the API's
  lowerCamel form, so ``raw`` always has one shape.
- A JSON array of findings or events, or a document holding a single finding.

JSON lines are streamed line by line; the whole-document forms (a pretty-printed document or
an array) are read whole, which suits GetFindings output (at most 50 findings per call), up to
``base.DOCUMENT_FAST_BYTES``; a larger one (or one nested too deeply to decode whole) is split
finding by finding (``base.split_json``: a top-level array, or the ``findings`` / ``Findings``
list). The first 64 KiB tell them apart: an object that starts with ``[`` is a document, and so
is one whose first line (or, when that is broken, second line) is not JSON on its own, as the
``{`` opening a pretty-printed document is not.

A finding needs ``id``, ``accountId``, ``type`` and a timestamp (``service.eventLastSeen``,
``updatedAt`` or ``createdAt``, ISO 8601); without them, or when it is not a JSON object, it is a
``Reject`` at "line N" (JSON lines) or "record N" (its place in a document's list), and the
other findings still come out. ``raw`` is the finding itself (an event's ``detail``, not the
envelope), without insignificant whitespace; ``size`` is its length.

Throughput, measured on 50,000 synthetic findings of five types (IAM API call, port probe, S3,
EKS, SSH brute force; 1.9 KB each on average), one core of a 2-vCPU development VM, Python
3.11, msgspec 0.22: about 33,000 findings/s (63 MB/s) as JSON lines from memory, 28,000/s from
gzip, 29,000/s as EventBridge lines, 19,000/s as one pretty-printed GetFindings document. On
the same machine ``orjson.loads`` alone parses those lines at about 110,000/s.

``batches``, ``json_units``, ``iso8601_ms`` and the other public helpers are shared with
``asff.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, TypeVar

import msgspec
import orjson

from gumshoe.formats import base
from gumshoe.formats.base import Batch, Reject
from gumshoe.formats.sql import HOUR_MS

KIND = "guardduty"
PACKAGE = base.DETECTIVE_CORE

R = TypeVar("R")


class Finding(msgspec.Struct, gc=False):
    """One GuardDuty finding, as the behavior graph needs it."""

    account_id: str
    region: str
    time_ms: int  # service.eventLastSeen, else updatedAt, else createdAt
    size: int  # bytes of raw
    id: str
    arn: str
    type: str  # e.g. "Recon:EC2/PortProbeUnprotectedPort"
    title: str
    severity: float
    created_ms: int  # -1 when absent
    updated_ms: int
    first_seen_ms: int  # service.eventFirstSeen
    last_seen_ms: int  # service.eventLastSeen
    count: int  # occurrences aggregated into the finding (1 when not said)
    archived: bool
    resource_type: str  # "Instance", "AccessKey", "S3Bucket", "EKSCluster", ...
    instance_id: str
    access_key_id: str
    principal_id: str
    user_name: str
    user_type: str
    remote_ips: list[str]  # every remote IP of the action, deduplicated, in order
    local_ips: list[str]  # the instance's private/public IPs, then the action's local IPs
    buckets: list[str]  # S3 bucket names
    eks_cluster: str
    api: str  # awsApiCallAction.api
    service_name: str  # awsApiCallAction.serviceName
    action_type: str  # "AWS_API_CALL", "NETWORK_CONNECTION", "PORT_PROBE", "DNS_REQUEST", ...
    domain: str  # dnsRequestAction.domain
    raw: bytes


# ---- the finding's wire form (only the members read; everything is optional here) ----


class _Ip(msgspec.Struct, rename="camel", gc=False):
    ip_address_v4: str | None = None
    ip_address_v6: str | None = None


class _Remote(msgspec.Struct, rename="camel", gc=False):
    remote_ip_details: _Ip | None = None


class _ApiCall(msgspec.Struct, rename="camel", gc=False):
    api: str | None = None
    service_name: str | None = None
    remote_ip_details: _Ip | None = None


class _Connection(msgspec.Struct, rename="camel", gc=False):
    remote_ip_details: _Ip | None = None
    local_ip_details: _Ip | None = None


class _PortProbe(msgspec.Struct, rename="camel", gc=False):
    port_probe_details: list[_Connection] | None = None


class _Dns(msgspec.Struct, rename="camel", gc=False):
    domain: str | None = None


class _KubernetesApiCall(msgspec.Struct, rename="camel", gc=False):
    remote_ip_details: _Ip | None = None
    source_ips: list[str] | None = msgspec.field(default=None, name="sourceIPs")


class _Action(msgspec.Struct, rename="camel", gc=False):
    action_type: str | None = None
    aws_api_call_action: _ApiCall | None = None
    network_connection_action: _Connection | None = None
    port_probe_action: _PortProbe | None = None
    dns_request_action: _Dns | None = None
    kubernetes_api_call_action: _KubernetesApiCall | None = None
    rds_login_attempt_action: _Remote | None = None


class _Service(msgspec.Struct, rename="camel", gc=False):
    action: _Action | None = None
    event_first_seen: str | None = None
    event_last_seen: str | None = None
    count: int | None = None
    archived: bool | None = None


class _PrivateIp(msgspec.Struct, rename="camel", gc=False):
    private_ip_address: str | None = None


class _NetworkInterface(msgspec.Struct, rename="camel", gc=False):
    private_ip_address: str | None = None
    private_ip_addresses: list[_PrivateIp] | None = None
    public_ip: str | None = None
    ipv6_addresses: list[str] | None = None


class _Instance(msgspec.Struct, rename="camel", gc=False):
    instance_id: str | None = None
    network_interfaces: list[_NetworkInterface] | None = None


class _AccessKey(msgspec.Struct, rename="camel", gc=False):
    access_key_id: str | None = None
    principal_id: str | None = None
    user_name: str | None = None
    user_type: str | None = None


class _Named(msgspec.Struct, rename="camel", gc=False):
    name: str | None = None


class _Resource(msgspec.Struct, rename="camel", gc=False):
    resource_type: str | None = None
    instance_details: _Instance | None = None
    access_key_details: _AccessKey | None = None
    s3_bucket_details: list[_Named] | None = None
    eks_cluster_details: _Named | None = None


class _Wire(msgspec.Struct, rename="camel", gc=False):
    """A finding, an EventBridge event or a GetFindings output: one decode tells them apart."""

    # the finding
    account_id: str | None = None
    region: str | None = None
    id: str | None = None
    arn: str | None = None
    type: str | None = None
    title: str | None = None
    severity: float | None = None
    created_at: str | None = None
    updated_at: str | None = None
    resource: _Resource | None = None
    service: _Service | None = None
    # an EventBridge event
    source: str | None = None
    detail_type: str | None = msgspec.field(default=None, name="detail-type")
    account: str | None = None
    detail: msgspec.Raw = msgspec.Raw()  # msgspec takes no Raw in a union: empty when absent
    # GetFindings output: the API's and the CLI's spelling
    findings: list[msgspec.Raw] | None = None
    cli_findings: list[msgspec.Raw] | None = msgspec.field(default=None, name="Findings")


_DOCUMENT = msgspec.json.Decoder(_Wire | list[msgspec.Raw])
_FINDING = msgspec.json.Decoder(_Wire)

HEAD_BYTES = 64 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_BYTE_AT = re.compile(r"\(byte (\d+)\)")


# ---- shared helpers (asff.py uses them too) ----


def iso8601_ms(text: str | None) -> int:
    """Epoch milliseconds of an ISO 8601 timestamp (``2024-03-01T12:34:56.789Z``, with or
    without fractional seconds, ``Z`` or an offset; no zone means UTC), or -1."""
    if not text:
        return -1
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return -1
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS


def unique(values: Iterable[str | None]) -> list[str]:
    """The non-empty values, first occurrence kept, in order."""
    return list(dict.fromkeys(filter(None, values)))


def compact(raw: bytes) -> bytes:
    """The JSON without insignificant whitespace (values untouched). Formatted JSON shows in
    its first bytes (a line break, or a space after a separator); compact JSON is kept as is."""
    start = raw[:256]
    if b"\n" in start or b'": ' in start or b", " in start:
        return msgspec.json.format(raw, indent=-1)
    return raw


def where(position: str, sub: str) -> str:
    return f"{position} {sub}" if position else sub


def failed(position: str, exc: BaseException, raw: bytes) -> Reject:
    """A Reject for a record whose decoding or reading raised anything else than a DecodeError."""
    return Reject(position, base.unreadable(exc), base.raw_excerpt(raw))


def decode_failure(position: str, exc: msgspec.DecodeError, what: str, raw: bytes) -> Reject:
    """A Reject for JSON that does not decode; a document's position comes from the error."""
    if not position:
        found = _BYTE_AT.search(str(exc))
        position = f"byte {found.group(1)}" if found else "byte 0"
    return Reject(position, f"not {what}: {exc}", base.raw_excerpt(raw))


def batches(entries: Iterable[R | Reject | None]) -> Iterator[Batch[R]]:
    """Records and rejects (None: an entry skipped) in batches of at most BATCH_RECORDS."""
    limit = base.BATCH_RECORDS
    batch: Batch[R] = Batch()
    for entry in entries:
        if entry is None:
            batch.skipped += 1
            continue
        if isinstance(entry, Reject):
            batch.rejects.append(entry)
        else:
            batch.records.append(entry)
        if len(batch.records) + len(batch.rejects) >= limit:
            yield batch
            batch = Batch()
    if batch.records or batch.rejects or batch.skipped:
        yield batch


class _Peeked:
    """A stream whose first bytes are read ahead (``head``) and then served again.

    It reads with ``read1`` where the stream has it: a GzipFile's ``read(n)`` drops the bytes
    it had decompressed when it meets a truncated member, ``read1`` hands them over first, so
    the records before a cut still come out. A read error met while reading ahead is raised
    once the bytes before it are consumed, so the Reject lands after them.
    """

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._read = getattr(stream, "read1", stream.read)
        self._error: BaseException | None = None
        parts: list[bytes] = []
        got = 0
        while got < size:
            try:
                chunk = self._read(size - got)
            except base.STREAM_ERRORS as exc:
                self._error = exc
                break
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        self.head = b"".join(parts)
        self._buffer = self.head

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._read_rest()
        if self._buffer:
            if size >= len(self._buffer):
                served, self._buffer = self._buffer, b""
            else:
                served, self._buffer = self._buffer[:size], self._buffer[size:]
            return served
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        data: bytes = self._read(size)
        return data

    def _read_rest(self) -> bytes:
        served, self._buffer = self._buffer, b""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return served + self._stream.read()


def _is_json(text: bytes) -> bool:
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError:
        return False
    except RecursionError:  # a value nested deeply, on a line of its own: JSON lines
        return True
    return True


def is_json_lines(head: bytes) -> bool:
    """Whether an object starting with ``head`` is JSON lines rather than one document."""
    text = head.lstrip()
    if text[:1] == b"[":
        return False
    lines = text.split(b"\n", 2)
    if len(lines) == 1:
        return True  # a single line (so far): read as a line either way
    return _is_json(lines[0]) or (len(lines) == 3 and _is_json(lines[1]))


def json_units(stream: BinaryIO, limits: base.Limits = base.DEFAULT_LIMITS,
               keys: tuple[str, ...] = ()) -> Iterator[tuple[str, bytes] | Reject | base.Element]:
    """The JSON texts of an object: ``("line N", line)`` for each non-blank line of JSON lines,
    or ``("", document)`` once for a whole document, or, for a document larger than
    ``limits.document_fast_bytes``, its elements (``base.split_json``: of a top-level array or
    of the list under one of ``keys``); a read error (or a line too long) becomes a Reject."""
    peeked = _Peeked(stream, HEAD_BYTES)
    if is_json_lines(peeked.head):
        for item in base.iter_lines(peeked, limits.chunk_bytes, limits.max_record_bytes):
            if isinstance(item, Reject):
                yield item
            elif item[1].strip():
                yield f"line {item[0]}", item[1]
        return
    document = base.read_document(peeked, limits)
    if isinstance(document, Reject):
        yield document
    elif isinstance(document, base.Streamed):
        yield from base.split_json(document, keys=keys, limits=limits)
    elif document.strip():
        yield "", document


def split_document(document: bytes, keys: tuple[str, ...], limits: base.Limits) -> Iterator[base.Element]:
    """The elements of a document already read (one too deeply nested to decode whole)."""
    return base.split_json(base.Streamed([document], None), keys=keys, limits=limits)


def element_reject(element: base.Element) -> Reject | None:
    """The Reject of an element that cannot be read (None: it can): "byte N" when the
    document ends there, else its place ("record N", a whole value "record 1")."""
    if element.ends:
        return Reject(f"byte {element.offset}", element.error, element.raw)
    if element.error:
        return Reject(f"record {element.index or 1}", element.error, element.raw)
    return None


# ---- sniffing ----

_GUARDDUTY_ARN = re.compile(rb"arn:aws[a-z-]*:guardduty:")
_EVENT_SOURCE = re.compile(rb'"source"\s*:\s*"aws\.guardduty"')
_EVENT_TYPE = re.compile(rb'"detail-type"\s*:\s*"GuardDuty Finding"')
_CLOUDTRAIL_DOCUMENT = re.compile(rb'\{\s*"Records"\s*:')


def is_cloudtrail(text: bytes) -> bool:
    """A CloudTrail log file, or CloudTrail events (as lines or EventBridge details)."""
    if _CLOUDTRAIL_DOCUMENT.match(text):
        return True
    return b'"eventVersion"' in text and b'"eventSource"' in text


def is_asff(text: bytes) -> bool:
    return b'"AwsAccountId"' in text and b'"ProductArn"' in text


def sniff(head: bytes, name: str) -> bool:
    """GuardDuty finding JSON: ``aws.guardduty`` finding events, or findings (``schemaVersion``
    with a GuardDuty ARN or a finding's ``service`` and ``resource``), in any of the forms read.
    CloudTrail and Security Hub (ASFF) JSON are not GuardDuty's, even about GuardDuty."""
    text = head.lstrip()
    if text[:1] not in (b"{", b"[") or _CLOUDTRAIL_DOCUMENT.match(text):
        return False
    if _EVENT_SOURCE.search(text) and _EVENT_TYPE.search(text):
        return True
    if is_asff(text) or is_cloudtrail(text):
        return False
    if b'"schemaVersion"' not in text and b'"SchemaVersion"' not in text:
        return False
    if _GUARDDUTY_ARN.search(text):
        return True
    if (b'"service"' in text and b'"resource"' in text) or (b'"Service"' in text and b'"Resource"' in text):
        return True
    # The key is a hint: a GuardDuty prefix and an account-bearing finding-like object.
    return "guardduty" in name.lower() and (b'"accountId"' in text or b'"AccountId"' in text)


# ---- reading ----


_LISTS = ("findings", "Findings")  # GetFindings output: the lists split out of a large document


def read(stream: BinaryIO, name: str, limits: base.Limits | None = None) -> Iterator[Batch[Finding]]:
    """Batches of findings and rejects, in object order."""
    yield from base.guarded(batches(_entries(stream, limits or base.DEFAULT_LIMITS)))


def _entries(stream: BinaryIO, limits: base.Limits) -> Iterator[Finding | Reject | None]:
    for unit in json_units(stream, limits, _LISTS):
        if isinstance(unit, Reject):
            yield unit
        elif isinstance(unit, base.Element):
            yield from _element(unit, limits)
        else:
            yield from _document(*unit, limits)


def _element(element: base.Element, limits: base.Limits) -> Iterator[Finding | Reject | None]:
    """What an element of a split document holds."""
    reject = element_reject(element)
    if reject is not None:
        yield reject
    elif element.index == 0:  # the document is one value (no list to split)
        yield from _document("", element.raw, None)
    elif element.key:  # a GetFindings list's finding
        position = f"record {element.index}"
        try:
            entry = _decoded(position, element.raw)
        except Exception as exc:
            entry = failed(position, exc, element.raw)
        yield entry
    else:  # an element of a top-level array
        yield from _document(f"record {element.index}", element.raw, None)


def _document(position: str, data: bytes, limits: base.Limits | None) -> Iterator[Finding | Reject | None]:
    """What one JSON text holds: a finding, an event, GetFindings output, or a list of those.
    A whole document too deeply nested to decode at once is split (with ``limits``; None: it
    is one reject)."""
    try:
        doc = _DOCUMENT.decode(data)
    except msgspec.DecodeError as exc:
        yield decode_failure(position, exc, "GuardDuty finding JSON", data)
        return
    except Exception as exc:  # nested too deeply, ...
        if not position and limits is not None and isinstance(exc, RecursionError):
            for element in split_document(data, _LISTS, limits):
                yield from _element(element, limits)
        else:
            yield failed(position or "record 1", exc, data)
        return
    if isinstance(doc, list):
        for number, item in enumerate(doc, 1):
            yield from _document(where(position, f"record {number}"), bytes(item), None)
        return
    is_event = doc.source is not None or bool(doc.detail)
    if not is_event and (doc.findings is not None or doc.cli_findings is not None):
        listed = doc.findings if doc.findings is not None else doc.cli_findings or []
        for number, item in enumerate(listed, 1):
            here = where(position, f"record {number}")
            raw = bytes(item)
            try:
                entry = _decoded(here, raw)
            except Exception as exc:  # whatever it is, one finding's
                entry = failed(here, exc, raw)
            yield entry
        return
    here = position or "record 1"
    try:
        one = _event(here, doc) if is_event else _finding(here, data, doc)
    except Exception as exc:
        one = failed(here, exc, data)
    yield one


def _event(position: str, event: _Wire) -> Finding | Reject | None:
    """The finding of an EventBridge event (None: a GuardDuty event that is not a finding)."""
    if event.source != "aws.guardduty":
        return Reject(position, f"an EventBridge event from {event.source!r}, not from aws.guardduty")
    if event.detail_type != "GuardDuty Finding":
        return None
    if not event.detail:
        return Reject(position, "a GuardDuty Finding event without a detail")
    return _decoded(position, bytes(event.detail), event.account or "", event.region or "")


def _decoded(position: str, raw: bytes, account: str = "", region: str = "") -> Finding | Reject:
    try:
        wire = _FINDING.decode(raw)
    except msgspec.DecodeError as exc:
        return decode_failure(position, exc, "a GuardDuty finding", raw)
    return _finding(position, raw, wire, account, region)


def _finding(position: str, raw: bytes, wire: _Wire, account: str = "", region: str = "") -> Finding | Reject:
    """The record of a decoded finding, or why it is not one."""
    if wire.id is None and wire.account_id is None and b'"AccountId"' in raw:
        try:
            raw = orjson.dumps(_camel_keys(orjson.loads(raw)))
            wire = _FINDING.decode(raw)
        except (orjson.JSONDecodeError, msgspec.DecodeError) as exc:
            return Reject(position, f"not a GuardDuty finding: {exc}", base.raw_excerpt(raw))
    account_id = wire.account_id or account
    missing = [
        key for key, value in (("id", wire.id), ("accountId", account_id), ("type", wire.type)) if not value
    ]
    if missing:
        return Reject(position, f"not a GuardDuty finding: no {', '.join(missing)}", base.raw_excerpt(raw))
    service = wire.service or _Service()
    seen = (iso8601_ms(service.event_last_seen), iso8601_ms(wire.updated_at), iso8601_ms(wire.created_at))
    if max(seen) < 0:
        return Reject(
            position,
            "not a GuardDuty finding: no readable timestamp in service.eventLastSeen, updatedAt or createdAt",
            base.raw_excerpt(raw),
        )
    return _record(wire, service, compact(raw), account_id, wire.region or region, seen)


def _record(
    wire: _Wire, service: _Service, raw: bytes, account_id: str, region: str, seen: tuple[int, int, int]
) -> Finding:
    """The record; ``seen`` is (eventLastSeen, updatedAt, createdAt) in ms, at least one known."""
    last_seen_ms, updated_ms, created_ms = seen
    resource = wire.resource or _Resource()
    action = service.action or _Action()
    key = resource.access_key_details or _AccessKey()
    api_call = action.aws_api_call_action or _ApiCall()
    return Finding(
        account_id=account_id,
        region=region,
        time_ms=next(ms for ms in seen if ms >= 0),
        size=len(raw),
        id=wire.id or "",
        arn=wire.arn or "",
        type=wire.type or "",
        title=wire.title or "",
        severity=float(wire.severity or 0.0),
        created_ms=created_ms,
        updated_ms=updated_ms,
        first_seen_ms=iso8601_ms(service.event_first_seen),
        last_seen_ms=last_seen_ms,
        count=service.count if service.count is not None else 1,
        archived=bool(service.archived),
        resource_type=resource.resource_type or "",
        instance_id=(resource.instance_details.instance_id or "") if resource.instance_details else "",
        access_key_id=key.access_key_id or "",
        principal_id=key.principal_id or "",
        user_name=key.user_name or "",
        user_type=key.user_type or "",
        remote_ips=_remote_ips(action),
        local_ips=_local_ips(resource, action),
        buckets=unique(bucket.name for bucket in resource.s3_bucket_details or ()),
        eks_cluster=(resource.eks_cluster_details.name or "") if resource.eks_cluster_details else "",
        api=api_call.api or "",
        service_name=api_call.service_name or "",
        action_type=action.action_type or "",
        domain=(action.dns_request_action.domain or "") if action.dns_request_action else "",
        raw=raw,
    )


def _ips(details: _Ip | None) -> tuple[str | None, ...]:
    return (details.ip_address_v4, details.ip_address_v6) if details is not None else ()


def _remote_ips(action: _Action) -> list[str]:
    found: list[str | None] = []
    for part in (
        action.aws_api_call_action,
        action.network_connection_action,
        action.rds_login_attempt_action,
    ):
        if part is not None:
            found.extend(_ips(part.remote_ip_details))
    if action.port_probe_action is not None:
        for probe in action.port_probe_action.port_probe_details or ():
            found.extend(_ips(probe.remote_ip_details))
    kubernetes = action.kubernetes_api_call_action
    if kubernetes is not None:
        found.extend(_ips(kubernetes.remote_ip_details))
        found.extend(kubernetes.source_ips or ())
    return unique(found)


def _local_ips(resource: _Resource, action: _Action) -> list[str]:
    found: list[str | None] = []
    if resource.instance_details is not None:
        for nic in resource.instance_details.network_interfaces or ():
            found.append(nic.private_ip_address)
            found.extend(private.private_ip_address for private in nic.private_ip_addresses or ())
            found.append(nic.public_ip)
            found.extend(nic.ipv6_addresses or ())
    if action.network_connection_action is not None:
        found.extend(_ips(action.network_connection_action.local_ip_details))
    if action.port_probe_action is not None:
        for probe in action.port_probe_action.port_probe_details or ():
            found.extend(_ips(probe.local_ip_details))
    return unique(found)


# ---- the CLI's PascalCase form ----

# Members whose wire name is not the PascalCase name with its first letter lowered (botocore's
# GuardDuty model, finding shapes only).
_WIRE_NAMES = {
    "SourceIps": "sourceIPs",
    "Latitude": "lat",
    "Longitude": "lon",
    "Code": "productCodeId",
    "ProductType": "productCodeType",
    "TaskCreatedAt": "createdAt",
    "KubernetesResourcesTypes": "type",
}
_MEMBER = re.compile(r"[A-Z][A-Za-z0-9]*\Z")


def _camel_key(key: str) -> str:
    if key in _WIRE_NAMES:
        return _WIRE_NAMES[key]
    # Map keys that are data (e.g. "AWS::S3::Bucket" in affectedResources) stay as they are.
    return key[0].lower() + key[1:] if _MEMBER.match(key) else key


def _camel_keys(value: object) -> object:
    if isinstance(value, dict):
        return {_camel_key(key): _camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    return value


# --- In the behavior graph (graph/store.py builds its tables from these) ---------------

# The raw table of these records and its columns (attribute names of the record type); the
# graph store adds object_ref, the object a row came from.
RAW_TABLE = "findings"
RAW_DDL = """
CREATE TABLE IF NOT EXISTS findings (
    object_ref VARCHAR, time_ms BIGINT, account_id VARCHAR, region VARCHAR, id VARCHAR, arn VARCHAR,
    type VARCHAR, title VARCHAR, severity DOUBLE, created_ms BIGINT, updated_ms BIGINT,
    first_seen_ms BIGINT, last_seen_ms BIGINT, resource_type VARCHAR, instance_id VARCHAR,
    access_key_id VARCHAR, principal_id VARCHAR, user_name VARCHAR, remote_ips VARCHAR[],
    local_ips VARCHAR[], buckets VARCHAR[], raw VARCHAR
);
"""
RAW_COLUMNS = ("time_ms", "account_id", "region", "id", "arn", "type", "title", "severity", "created_ms", "updated_ms",
        "first_seen_ms", "last_seen_ms", "resource_type", "instance_id", "access_key_id", "principal_id",
        "user_name", "remote_ips", "local_ips", "buckets", "raw",
)
# The entities, links and hourly panel rows of one batch of these records (the view
# ``batch``), aggregated per batch: the store adds their integer keys and sums them later.
DERIVED = [
    """INSERT INTO entities
    SELECT t, i, min(a), min(time_ms), max(time_ms), count(*) FROM (
        SELECT 'finding' AS t, COALESCE(NULLIF(arn, ''), id) AS i, account_id AS a, time_ms FROM batch
        UNION ALL SELECT 'ip_address', unnest(remote_ips), account_id, time_ms FROM batch
        UNION ALL SELECT 'ec2_instance', instance_id, account_id, time_ms FROM batch WHERE instance_id <> ''
        UNION ALL SELECT 's3_bucket', unnest(buckets), account_id, time_ms FROM batch
        UNION ALL SELECT 'aws_account', account_id, account_id, time_ms FROM batch
    ) GROUP BY t, i""",
    f"""INSERT INTO links
    SELECT 'finding', f, 'involves', dt, di, time_ms // {HOUR_MS}, count(*), 0, min(time_ms), max(time_ms) FROM (
        SELECT COALESCE(NULLIF(arn, ''), id) AS f, 'ip_address' AS dt, unnest(remote_ips) AS di, time_ms FROM batch
        UNION ALL SELECT COALESCE(NULLIF(arn, ''), id), 'ec2_instance', instance_id, time_ms FROM batch WHERE instance_id <> ''
        UNION ALL SELECT COALESCE(NULLIF(arn, ''), id), 's3_bucket', unnest(buckets), time_ms FROM batch
        UNION ALL SELECT COALESCE(NULLIF(arn, ''), id), 'access_key', access_key_id, time_ms FROM batch WHERE access_key_id <> ''
        UNION ALL SELECT COALESCE(NULLIF(arn, ''), id), 'aws_account', account_id, time_ms FROM batch
    ) GROUP BY ALL""",
]
