"""AWS Security Hub findings in the AWS Security Finding Format (ASFF).

Formats read (the content decides which; gzip is opened by the source layer):

- GetFindings output ``{"Findings": [...]}`` (the API and the CLI spell ASFF the same way:
  PascalCase members).
- A JSON array of findings or events, JSON lines of findings or events, or a document holding a
  single finding.
- EventBridge events ``{"detail-type": "Security Hub Findings - Imported", "source":
  "aws.securityhub", "detail": {"findings": [...]}}``: one event holds a list of findings (so do
  "Security Hub Findings - Custom Action" events). Other ``aws.securityhub`` events (insight
  results) carry no finding and are counted as skipped; events from another source are rejected.

JSON lines are streamed line by line; a pretty-printed or array document is read whole (see
guardduty.json_units, shared with the GuardDuty reader), or, when larger than
``base.DOCUMENT_FAST_BYTES`` or nested too deeply to decode at once, split finding by finding
(a top-level array, or the ``Findings`` list).

A finding needs ``Id``, ``AwsAccountId``, ``ProductArn`` and a timestamp (``UpdatedAt``, else
``LastObservedAt``, else ``CreatedAt``; ISO 8601). Without them, or when it is not a JSON object,
it is a ``Reject`` at "line N" / "record N" (an event's findings: "line N record M"), and the
other findings still come out. ``raw`` is the finding itself, without insignificant whitespace.

Security Hub also carries GuardDuty's findings in ASFF (``ProductArn`` ending in
``product/aws/guardduty``); Detective already has those from GuardDuty, so the record says
``is_guardduty`` and the graph builder can leave them out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from gumshoe.formats import base
from gumshoe.formats.base import Batch, Reject
from gumshoe.formats.guardduty import (
    batches,
    compact,
    decode_failure,
    element_reject,
    failed,
    is_cloudtrail,
    iso8601_ms,
    json_units,
    split_document,
    unique,
    where,
)

KIND = "asff"
PACKAGE = base.ASFF_SECURITYHUB_FINDING


class SecurityHubFinding(msgspec.Struct, gc=False):
    """One Security Hub finding, as the behavior graph needs it."""

    account_id: str  # AwsAccountId
    region: str  # Region, else the ProductArn's Region
    time_ms: int  # UpdatedAt, else LastObservedAt, else CreatedAt
    size: int  # bytes of raw
    id: str
    product_arn: str
    generator_id: str
    types: list[str]  # "Namespace/Category/Classifier"
    title: str
    severity_label: str  # "" when absent
    severity_normalized: int  # 0-100, -1 when absent
    created_ms: int  # -1 when absent
    updated_ms: int
    first_observed_ms: int
    last_observed_ms: int
    resources: list[tuple[str, str]]  # (Type, Id)
    ips: list[str]  # Network's and Action's IPs, deduplicated, in order
    record_state: str  # "ACTIVE" / "ARCHIVED"
    workflow_status: str  # "NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"
    is_guardduty: bool  # produced by GuardDuty (Detective has it through GuardDuty already)
    raw: bytes


# ---- ASFF's wire form (only the members read; everything is optional here) ----


class _Ip(msgspec.Struct, rename="pascal", gc=False):
    ip_address_v4: str | None = None


class _Remote(msgspec.Struct, rename="pascal", gc=False):
    remote_ip_details: _Ip | None = None


class _Probe(msgspec.Struct, rename="pascal", gc=False):
    local_ip_details: _Ip | None = None
    remote_ip_details: _Ip | None = None


class _PortProbe(msgspec.Struct, rename="pascal", gc=False):
    port_probe_details: list[_Probe] | None = None


class _Action(msgspec.Struct, rename="pascal", gc=False):
    aws_api_call_action: _Remote | None = None
    network_connection_action: _Remote | None = None
    port_probe_action: _PortProbe | None = None


class _Network(msgspec.Struct, rename="pascal", gc=False):
    source_ip_v4: str | None = None
    source_ip_v6: str | None = None
    destination_ip_v4: str | None = None
    destination_ip_v6: str | None = None


class _Severity(msgspec.Struct, rename="pascal", gc=False):
    label: str | None = None
    normalized: int | float | None = None


class _Resource(msgspec.Struct, rename="pascal", gc=False):
    type: str | None = None
    id: str | None = None


class _Workflow(msgspec.Struct, rename="pascal", gc=False):
    status: str | None = None


class _Detail(msgspec.Struct, gc=False):
    findings: list[msgspec.Raw] | None = None


class _Wire(msgspec.Struct, rename="pascal", gc=False):
    """A finding, an EventBridge event or a GetFindings output: one decode tells them apart."""

    # the finding
    id: str | None = None
    product_arn: str | None = None
    generator_id: str | None = None
    aws_account_id: str | None = None
    region: str | None = None
    types: list[str] | None = None
    title: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    first_observed_at: str | None = None
    last_observed_at: str | None = None
    severity: _Severity | None = None
    resources: list[_Resource] | None = None
    network: _Network | None = None
    action: _Action | None = None
    workflow: _Workflow | None = None
    record_state: str | None = None
    # an EventBridge event (lower-case and hyphenated names)
    source: str | None = msgspec.field(default=None, name="source")
    detail_type: str | None = msgspec.field(default=None, name="detail-type")
    detail: _Detail | None = msgspec.field(default=None, name="detail")
    # GetFindings output
    findings: list[msgspec.Raw] | None = None


_DOCUMENT = msgspec.json.Decoder(_Wire | list[msgspec.Raw])
_FINDING = msgspec.json.Decoder(_Wire)

_EVENT_SOURCE = re.compile(rb'"source"\s*:\s*"aws\.securityhub"')
_EVENT_TYPE = re.compile(rb'"detail-type"\s*:\s*"Security Hub Findings')


def sniff(head: bytes, name: str) -> bool:
    """ASFF JSON: findings (``AwsAccountId`` and ``ProductArn``) or ``aws.securityhub`` finding
    events, in any of the forms read; never a CloudTrail log, even about Security Hub."""
    text = head.lstrip()
    if text[:1] not in (b"{", b"[") or is_cloudtrail(text):
        return False
    if _EVENT_SOURCE.search(text) and _EVENT_TYPE.search(text):
        return True
    return b'"AwsAccountId"' in text and b'"ProductArn"' in text


_LISTS = ("Findings",)  # GetFindings output: the list split out of a large document


def read(stream: BinaryIO, name: str, limits: base.Limits | None = None) -> Iterator[Batch[SecurityHubFinding]]:
    """Batches of findings and rejects, in object order."""
    yield from base.guarded(batches(_entries(stream, limits or base.DEFAULT_LIMITS)))


def _entries(stream: BinaryIO, limits: base.Limits) -> Iterator[SecurityHubFinding | Reject | None]:
    for unit in json_units(stream, limits, _LISTS):
        if isinstance(unit, Reject):
            yield unit
        elif isinstance(unit, base.Element):
            yield from _element(unit, limits)
        else:
            yield from _document(*unit, limits)


def _element(element: base.Element, limits: base.Limits) -> Iterator[SecurityHubFinding | Reject | None]:
    """What an element of a split document holds."""
    reject = element_reject(element)
    if reject is not None:
        yield reject
    elif element.index == 0:  # the document is one value (no list to split)
        yield from _document("", element.raw, None)
    elif element.key:  # a GetFindings list's finding
        yield _one(f"record {element.index}", element.raw)
    else:  # an element of a top-level array
        yield from _document(f"record {element.index}", element.raw, None)


def _document(position: str, data: bytes, limits: base.Limits | None) -> Iterator[SecurityHubFinding | Reject | None]:
    """What one JSON text holds: a finding, an event, GetFindings output, or a list of those.
    A whole document too deeply nested to decode at once is split (with ``limits``; None: it
    is one reject)."""
    try:
        doc = _DOCUMENT.decode(data)
    except msgspec.DecodeError as exc:
        yield decode_failure(position, exc, "Security Hub finding JSON", data)
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
    elif doc.source is not None or doc.detail is not None:
        yield from _event(position or "record 1", doc)
    elif doc.findings is not None:
        yield from _listed(position, doc.findings)
    else:
        here = position or "record 1"
        try:
            entry = _finding(here, data, doc)
        except Exception as exc:  # whatever it is, one finding's
            entry = failed(here, exc, data)
        yield entry


def _event(position: str, event: _Wire) -> Iterator[SecurityHubFinding | Reject | None]:
    """The findings of an EventBridge event (None: a Security Hub event without findings)."""
    if event.source != "aws.securityhub":
        yield Reject(position, f"an EventBridge event from {event.source!r}, not from aws.securityhub")
    elif event.detail is None or event.detail.findings is None:
        yield None
    else:
        yield from _listed(position, event.detail.findings)


def _listed(position: str, findings: list[msgspec.Raw]) -> Iterator[SecurityHubFinding | Reject]:
    for number, item in enumerate(findings, 1):
        here = where(position, f"record {number}")
        raw = bytes(item)
        try:
            wire = _FINDING.decode(raw)
            entry = _finding(here, raw, wire)
        except msgspec.DecodeError as exc:
            entry = decode_failure(here, exc, "a Security Hub finding", raw)
        except Exception as exc:  # whatever it is, one finding's
            entry = failed(here, exc, raw)
        yield entry


def _one(position: str, raw: bytes) -> SecurityHubFinding | Reject:
    """A finding from its JSON, or why not (never raising)."""
    try:
        wire = _FINDING.decode(raw)
        return _finding(position, raw, wire)
    except msgspec.DecodeError as exc:
        return decode_failure(position, exc, "a Security Hub finding", raw)
    except Exception as exc:  # whatever it is, one finding's
        return failed(position, exc, raw)


def _finding(position: str, raw: bytes, wire: _Wire) -> SecurityHubFinding | Reject:
    """The record of a decoded finding, or why it is not one."""
    required = (("Id", wire.id), ("AwsAccountId", wire.aws_account_id), ("ProductArn", wire.product_arn))
    missing = [key for key, value in required if not value]
    if missing:
        return Reject(position, f"not a Security Hub finding: no {', '.join(missing)}", base.raw_excerpt(raw))
    created_ms = iso8601_ms(wire.created_at)
    updated_ms = iso8601_ms(wire.updated_at)
    last_observed_ms = iso8601_ms(wire.last_observed_at)
    time_ms = next((ms for ms in (updated_ms, last_observed_ms, created_ms) if ms >= 0), -1)
    if time_ms < 0:
        return Reject(
            position,
            "not a Security Hub finding: no readable timestamp in UpdatedAt, LastObservedAt or CreatedAt",
            base.raw_excerpt(raw),
        )
    raw = compact(raw)
    product_arn = wire.product_arn or ""
    severity = wire.severity or _Severity()
    return SecurityHubFinding(
        account_id=wire.aws_account_id or "",
        region=wire.region or _arn_region(product_arn),
        time_ms=time_ms,
        size=len(raw),
        id=wire.id or "",
        product_arn=product_arn,
        generator_id=wire.generator_id or "",
        types=list(wire.types or ()),
        title=wire.title or "",
        severity_label=severity.label or "",
        severity_normalized=int(severity.normalized) if severity.normalized is not None else -1,
        created_ms=created_ms,
        updated_ms=updated_ms,
        first_observed_ms=iso8601_ms(wire.first_observed_at),
        last_observed_ms=last_observed_ms,
        resources=[(resource.type or "", resource.id or "") for resource in wire.resources or ()],
        ips=_ips(wire),
        record_state=wire.record_state or "",
        workflow_status=(wire.workflow.status or "") if wire.workflow else "",
        is_guardduty=is_guardduty_product(product_arn),
        raw=raw,
    )


def _arn_region(arn: str) -> str:
    parts = arn.split(":", 4)
    return parts[3] if len(parts) > 4 else ""


def is_guardduty_product(product_arn: str) -> bool:
    """Whether a ProductArn is GuardDuty's:
    ``arn:<partition>:securityhub:<region>::product/aws/guardduty``."""
    return product_arn.endswith(":product/aws/guardduty")


def _ips(wire: _Wire) -> list[str]:
    found: list[str | None] = []
    if wire.network is not None:
        network = wire.network
        found += (
            network.source_ip_v4,
            network.source_ip_v6,
            network.destination_ip_v4,
            network.destination_ip_v6,
        )
    action = wire.action
    if action is not None:
        for part in (action.aws_api_call_action, action.network_connection_action):
            if part is not None and part.remote_ip_details is not None:
                found.append(part.remote_ip_details.ip_address_v4)
        if action.port_probe_action is not None:
            for probe in action.port_probe_action.port_probe_details or ():
                for details in (probe.remote_ip_details, probe.local_ip_details):
                    if details is not None:
                        found.append(details.ip_address_v4)
    return unique(found)


# --- In the behavior graph (graph/store.py builds its tables from these) ---------------

# The raw table of these records and its columns (attribute names of the record type); the
# graph store adds object_ref, the object a row came from.
RAW_TABLE = "sh_findings"
RAW_DDL = """
CREATE TABLE IF NOT EXISTS sh_findings (
    object_ref VARCHAR, time_ms BIGINT, account_id VARCHAR, region VARCHAR, id VARCHAR,
    product_arn VARCHAR, types VARCHAR[], title VARCHAR, severity_label VARCHAR, ips VARCHAR[], raw VARCHAR
);
"""
RAW_COLUMNS = ("time_ms", "account_id", "region", "id", "product_arn", "types", "title", "severity_label", "ips", "raw",
)
# The entities, links and hourly panel rows of one batch of these records (the view
# ``batch``), aggregated per batch: the store adds their integer keys and sums them later.
DERIVED = [
    """INSERT INTO entities
    SELECT 'finding', id, min(account_id), min(time_ms), max(time_ms), count(*) FROM batch GROUP BY id""",
]
