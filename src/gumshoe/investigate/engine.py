"""The analytics of an investigation: a principal, a scope of time, and a behavior graph in,
Detective's indicators of compromise and a severity out (docs/INVESTIGATIONS.md has the rules).

The questions are asked of the graph's raw API events (DuckDB scans them by column, fast
enough for tens of millions of rows) and its GuardDuty findings. For a role, the activity of
all its role sessions counts. "New" compares the scope with the baseline, the 45 days before
the scope starts (Detective's documented window): [start - 45 days, start).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import duckdb

from gumshoe.graph.store import GraphStore
from gumshoe.investigate import volume
from gumshoe.investigate.evidence import (
    EVIDENCE_EVENT_IDS,
    EVIDENCE_TARGETS,
    ChainSession,
    Subject,
    load_principal_events,
    principal_filter,
)
from gumshoe.investigate.geo import GeoIP, Place, distance_km, routable
from gumshoe.investigate.intel import ThreatIntel
from gumshoe.investigate.located import IP_GEO, is_located, locate_addresses
from gumshoe.investigate.scoring import counted_points, explain
from gumshoe.investigate.ttp import Ttp, TtpMap, api_label

log = logging.getLogger("gumshoe.investigate")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
BASELINE_MS = 45 * DAY_MS
# Two places closer than this are one place as far as travel goes: city-level geolocation of
# an address is often off by a few hundred kilometres.
MIN_TRAVEL_KM = 500.0
# Findings that share an entity are one finding group when their activity is this close.
GROUP_WINDOW_MS = 14 * DAY_MS
GROUP_NAMESPACE = uuid.UUID("6f1d8c1e-3b1a-4c55-9e0b-6a9f2f1e7c40")

INDICATOR_ORDER = (
    "TTP_OBSERVED", "INSTANCE_CREDENTIALS_OFF_INSTANCE", "UNUSUAL_VOLUME", "IMPOSSIBLE_TRAVEL", "FLAGGED_IP_ADDRESS", "NEW_GEOLOCATION", "NEW_ASO",
    "NEW_USER_AGENT", "RELATED_FINDING", "RELATED_FINDING_GROUP",
)
DETAIL_MEMBER = {
    "TTP_OBSERVED": "TTPsObservedDetail",
    "INSTANCE_CREDENTIALS_OFF_INSTANCE": "InstanceCredentialsDetail",  # Gumshoe's own, never on the AWS wire
    "UNUSUAL_VOLUME": "UnusualVolumeDetail",  # Gumshoe's own
    "IMPOSSIBLE_TRAVEL": "ImpossibleTravelDetail",
    "FLAGGED_IP_ADDRESS": "FlaggedIpAddressDetail",
    "NEW_GEOLOCATION": "NewGeolocationDetail",
    "NEW_ASO": "NewAsoDetail",
    "NEW_USER_AGENT": "NewUserAgentDetail",
    "RELATED_FINDING": "RelatedFindingDetail",
    "RELATED_FINDING_GROUP": "RelatedFindingGroupDetail",
}


# One kind of call: (event source, event name, source IP, the role it came through or "").
_Call = tuple[str, str, str, str]


@dataclass(slots=True)
class Indicator:
    type: str
    detail: dict[str, Any]  # the members of the type's IndicatorDetail structure
    # What the scoring weighs (never on the wire): a TTP's weight and whether the principal
    # did the same in the baseline; a finding's severity; whether new for the whole account.
    facts: dict[str, Any] = field(default_factory=dict)
    # Evidence for the report beyond the model's members (times, places), never on the wire.
    evidence: dict[str, Any] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        return {"IndicatorType": self.type, "IndicatorDetail": {DETAIL_MEMBER[self.type]: self.detail}}


@dataclass(slots=True)
class Result:
    indicators: list[Indicator]
    severity: str
    score: int
    notes: list[str]
    why: dict[str, Any] = field(default_factory=dict)  # scoring.explain: how the severity was reached


@dataclass(slots=True)
class _Finding:
    id: str
    arn: str
    type: str
    severity: float
    account_id: str
    start_ms: int
    end_ms: int
    access_key_id: str
    principal_id: str
    user_name: str
    instance_id: str
    remote_ips: list[str]


_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


def _network(ip: str) -> str:
    """The /24 (IPv6: /48) an address belongs to, as text; "" for anything else."""
    if _IPV4.fullmatch(ip):
        return ip.rsplit(".", 1)[0] + ".0/24"
    try:
        address = ipaddress.IPv6Address(ip)
    except ValueError:
        return ""
    return str(ipaddress.IPv6Network((int(address) >> 80 << 80, 48)))


@lru_cache(maxsize=1 << 17)
def is_ip(value: str) -> bool:
    """An IPv4 or IPv6 address (not a service name such as ec2.amazonaws.com)."""
    if _IPV4.fullmatch(value):
        return True
    if ":" not in value:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


class Investigator:
    """Long-lived: the GeoIP databases, the ATT&CK mapping and the threat-intel lists."""

    def __init__(self, geo: GeoIP | None, ttps: TtpMap, intel: ThreatIntel, *, travel_speed_kmh: float = 1000.0) -> None:
        self.geo = geo
        self.ttps = ttps
        self.intel = intel
        self.travel_speed_kmh = travel_speed_kmh

    # --- entry point -----------------------------------------------------------------

    def investigate(self, store: GraphStore, subject: Subject, start_ms: int, end_ms: int, graph_arn: str = "") -> Result:
        if self.geo is not None:
            self.geo.reload_if_changed()
        self.intel.refresh()
        notes: list[str] = []
        has_city = self.geo is not None and self.geo.has_city
        has_asn = self.geo is not None and self.geo.has_asn
        if not has_city:
            notes.append("NEW_GEOLOCATION and IMPOSSIBLE_TRAVEL were not evaluated: no GeoIP City database is "
                         "configured (geoip_city, --geoip-city).")
        if not has_asn:
            notes.append("NEW_ASO was not evaluated: no GeoIP ASN database is configured (geoip_asn, --geoip-asn).")
        if not self.intel.configured:
            notes.append("FLAGGED_IP_ADDRESS was not evaluated: no threat-intelligence list is configured (threat_intel).")
        for path, error in self.intel.unreadable():
            notes.append(f"The threat-intelligence list {path} could not be read ({error}): its addresses were not "
                         "checked. Fix the file; it is read again by the next investigation.")

        indicators: list[Indicator] = []
        with store.cursor() as main, main.cursor() as conn:
            activity = _Activity.read(conn, subject, start_ms, end_ms)
            if not activity.scope_calls:
                notes.append(_why_quiet(conn, subject))
            if self.geo is not None and is_located(conn, self.geo):
                activity.read_baseline_geo(conn, self.geo, start_ms)
            findings = _read_findings(conn)
            account = _AccountBaseline(conn, subject.account_id, start_ms, self)  # read only if something is new
            indicators += self._ttps(activity)
            if has_city:
                indicators += self._travel(activity)
            indicators += self._flagged(activity)
            indicators += self._off_instance(conn, start_ms, has_asn, notes)
            if activity.scope_calls:
                indicators += _unusual_volume(conn, start_ms, notes)
            if has_city or has_asn:
                indicators += self._new_places_and_asos(activity, account, has_city, has_asn)
            indicators += self._new_user_agents(activity, account)
            baseline = _baseline(conn, subject, start_ms, activity)
        if account.located_more:
            store.changed()  # ip_geo grew: what the console keeps of it is out of date
        if baseline["note"]:
            notes.append(baseline.pop("note"))
        if activity.chains:
            notes.append(_chains_note(subject, activity.chains))
        if activity.baseline_events == 0:
            _group_firsts(indicators, account_has_baseline=baseline["accountDays"] > 0)
        related = [f for f in findings if _involves(f, subject, activity) and f.start_ms < end_ms and f.end_ms >= start_ms]
        indicators += self._related_findings(related)
        indicators += _related_groups(findings, related, graph_arn)
        _by_importance(indicators)
        why = explain(indicators)
        baseline.pop("note", None)
        why["baseline"] = baseline
        why["roleSessions"] = [{"sessionArn": c.session_arn, "roleArn": c.role_arn, "events": c.events,
                                "firstSeen": c.first_ms, "lastSeen": c.last_ms} for c in activity.chains]
        return Result(indicators, why["severity"], why["score"], notes, why)

    # --- indicators ------------------------------------------------------------------

    def _ttps(self, activity: _Activity) -> list[Indicator]:
        out: list[Indicator] = []
        for call, (success, failure, flags) in sorted(activity.scope_calls.items()):
            source, name, ip, via = call
            ttps: dict[str, Ttp] = {}
            for failed, count in ((False, success), (True, failure)):
                if count:
                    for ttp in self.ttps.for_api(source, name, failed, flags):
                        # One indicator per technique and tactic (a successful call's procedure
                        # first): several mapping rows of one technique are one indicator.
                        ttps.setdefault(ttp.technique_id + "|" + ttp.tactic, ttp)
            if not ttps:
                continue
            routine = (source, name) in activity.baseline_apis
            routine_failures = (source, name) in activity.baseline_failed_apis
            usual_place = activity.usual_address(ip)
            for ttp in ttps.values():
                if ttp.weight != "high" and routine and usual_place and (failure == 0 or routine_failures):
                    # What the principal also did in the baseline, from where it usually works,
                    # is its routine, not evidence. Stopping a trail never is.
                    continue
                errors = activity.scope_errors.get(call, frozenset())
                procedure = outcome_procedure(ttp.procedure, success, failure, errors)
                sessions = activity.scope_sessions.get(call, [])
                if via:
                    procedure += f" (via {_via_label(via, sessions)})"
                detail: dict[str, Any] = {
                    "Tactic": ttp.tactic, "Technique": ttp.technique, "Procedure": procedure,
                    "APIName": api_label(source, name), "APISuccessCount": success, "APIFailureCount": failure,
                }
                if ip:
                    detail = {**detail, "IpAddress": ip}
                first, last = activity.scope_call_times.get(call, (None, None))
                evidence = {"firstSeen": first, "lastSeen": last, "errorCodes": sorted(errors),
                            **_call_evidence(activity, call, success + failure)}
                if via:
                    evidence["via"] = {"role": via, "sessions": sessions[:EVIDENCE_EVENT_IDS],
                                       "label": _via_label(via, sessions)}
                out.append(Indicator("TTP_OBSERVED", detail, evidence=evidence, facts={
                    "weight": ttp.weight, "routine": routine, "key": f"{ttp.technique_id}|{source}:{name}",
                    "succeeded": success > 0}))
        # A timeline: what the principal did, in the order it did it.
        out.sort(key=lambda i: (i.evidence.get("firstSeen") or 0, i.detail["APIName"], i.detail.get("IpAddress", "")))
        return out

    def _place(self, ip: str) -> Place | None:
        if self.geo is None or not ip:
            return None
        place = self.geo.place(ip)
        return place if place is not None and place.label else None

    def _travel(self, activity: _Activity) -> list[Indicator]:
        """Successive activity from two places farther apart than the speed limit allows."""
        out: list[Indicator] = []
        seen: set[tuple[str, str]] = set()
        previous: tuple[Place, str, int] | None = None  # place, ip, last activity there
        for first_ms, last_ms, ip in activity.scope_segments:
            place = self._place(ip)
            if place is None or place.latitude is None:
                continue
            if previous is not None:
                before, before_ip, before_ms = previous
                km = distance_km(before, place)
                if km is not None and km >= MIN_TRAVEL_KM and before.label != place.label:
                    hours = max(first_ms - before_ms, 0) / HOUR_MS
                    if hours == 0 or km / hours > self.travel_speed_kmh:
                        pair = (before.label, place.label)
                        if pair not in seen:
                            seen.add(pair)
                            # Activity from both places within one hour can interleave: the
                            # starting place's last call may come after the ending place's first.
                            out.append(Indicator("IMPOSSIBLE_TRAVEL", {
                                "StartingIpAddress": before_ip, "EndingIpAddress": ip,
                                "StartingLocation": before.label, "EndingLocation": place.label,
                                "HourlyTimeDelta": int(hours),
                            }, evidence={"distanceKm": round(km), "startTime": min(before_ms, first_ms),
                                         "endTime": first_ms, "interleaved": before_ms > first_ms}))
            if previous is None or last_ms >= previous[2]:
                previous = (place, ip, last_ms)
        return out

    def _off_instance(self, conn: duckdb.DuckDBPyConnection, start_ms: int, has_asn: bool,
                      notes: list[str]) -> list[Indicator]:
        """Instance-profile credentials (a role session named after its instance) used in the
        scope from an address the instance itself does not use, or from outside AWS."""
        # Per instance and address: whether the instance's own (its agent's calls, a VPC
        # endpoint's, the baseline's), and whether used in the scope from outside a VPC endpoint.
        own: dict[str, set[str]] = defaultdict(set)
        used: list[tuple[str, str]] = []
        for instance, ip, is_own, in_scope in conn.execute(
            f"""SELECT instance, source_ip, bool_or(time_ms < $start OR vpc_endpoint_id <> '' OR {ON_INSTANCE_SQL}),
                       bool_or(time_ms >= $start AND vpc_endpoint_id = '')
                FROM principal_events WHERE instance <> '' AND source_ip <> '' GROUP BY ALL""", {"start": start_ms},
        ).fetchall():
            if not is_ip(ip):
                continue
            if is_own:
                own[instance].add(ip)
            elif in_scope:
                used.append((instance, ip))
        out: list[Indicator] = []
        unknown: set[str] = set()
        suspects: list[tuple[str, str, str | None, bool]] = []
        for instance, ip in sorted(used):
            aso = self.geo.aso(ip) if self.geo is not None and has_asn else None
            outside = aso is not None and not _AWS_ASO.search(aso)
            if own[instance] or outside:
                suspects.append((instance, ip, aso, outside))
            else:
                unknown.add(instance)
        if suspects:
            pairs = {"start": start_ms, "instances": [i for i, _, _, _ in suspects], "ips": [a for _, a, _, _ in suspects]}
            found = {(instance, ip): rest for instance, ip, *rest in conn.execute(
                f"""SELECT instance, source_ip, any_value(principal_id), count(*), min(time_ms), max(time_ms),
                           arg_min(event_id, time_ms, {EVIDENCE_EVENT_IDS}) FILTER (WHERE event_id <> ''),
                           list(DISTINCT event_source || ':' || event_name)
                    FROM principal_events e
                    JOIN (SELECT unnest($instances) AS i, unnest($ips) AS a) k ON k.i = e.instance AND k.a = e.source_ip
                    WHERE time_ms >= $start AND vpc_endpoint_id = '' GROUP BY ALL""", pairs).fetchall()}
            for instance, ip, aso, outside in suspects:
                session, calls, first, last, ids, apis = found[(instance, ip)]
                out.append(Indicator("INSTANCE_CREDENTIALS_OFF_INSTANCE", {
                    "InstanceId": instance, "SessionArn": session, "IpAddress": ip,
                    "InstanceIpAddresses": sorted(own[instance])[:EVIDENCE_EVENT_IDS],
                    "Reason": "OUTSIDE_AWS" if outside else "NOT_THE_INSTANCES_ADDRESS",
                }, evidence={
                    "firstSeen": first, "lastSeen": last, "aso": aso,
                    "apis": sorted(api_label(*a.split(":", 1)) for a in apis)[:EVIDENCE_TARGETS],
                    "eventIds": list(ids or ()), "eventCount": calls,
                    "selector": {"principal": session, "sourceIp": ip},
                }))
        if unknown:
            notes.append(f"The credentials of {len(unknown)} instance(s) ({', '.join(sorted(unknown)[:3])}) were used "
                         "from addresses that could not be told apart from the instance's own: no call of the instance "
                         "itself (its Systems Manager agent) nor any baseline shows its address, and "
                         + ("the addresses are Amazon's." if has_asn else "no GeoIP ASN database is configured."))
        return out

    def _flagged(self, activity: _Activity) -> list[Indicator]:
        return [
            Indicator("FLAGGED_IP_ADDRESS", {"IpAddress": ip, "Reason": "AWS_THREAT_INTELLIGENCE"},
                      evidence={"firstSeen": activity.scope_ips[ip], "selector": {"sourceIp": ip}})
            for ip in sorted(activity.scope_ips) if self.intel.flagged(ip)
        ]

    def _new_places_and_asos(self, activity: _Activity, account: _AccountBaseline,
                             places: bool, asos: bool) -> list[Indicator]:
        """NEW_GEOLOCATION and NEW_ASO: the scope's places and networks the principal's baseline
        lacks, then one question to the account's baseline for the new ones."""
        geo = self.geo
        assert geo is not None
        new_places: list[tuple[str, Place]] = []
        baseline_geo = activity.baseline_geo
        if places:
            known = baseline_geo[0] if baseline_geo is not None else {
                p.label for ip in activity.baseline_ips if (p := self._place(ip)) is not None}
            for ip in sorted(activity.scope_ips, key=lambda i: (activity.scope_ips[i], i)):
                place = self._place(ip)
                if place is not None and place.label not in known:
                    new_places.append((ip, place))
        new_asos: dict[str, tuple[int, str]] = {}
        if asos:
            known = baseline_geo[1] if baseline_geo is not None else {
                a for ip in activity.baseline_ips if (a := geo.aso(ip))}
            for ip, first in activity.scope_ips.items():
                aso = geo.aso(ip)
                if aso and aso not in known and (aso not in new_asos or (first, ip) < new_asos[aso]):
                    new_asos[aso] = (first, ip)
        if not new_places and not new_asos:
            return []
        account_places, account_asos = account.known({p.label for _, p in new_places}, set(new_asos))
        out = [
            Indicator("NEW_GEOLOCATION", {
                "Location": place.label, "IpAddress": ip, "IsNewForEntireAccount": place.label not in account_places,
            }, evidence={"firstSeen": activity.scope_ips[ip], "selector": {"sourceIp": ip}})
            for ip, place in new_places
        ]
        out += [
            Indicator("NEW_ASO", {"Aso": aso, "IsNewForEntireAccount": aso not in account_asos},
                      evidence={"firstSeen": first, "ipAddress": ip})
            for aso, (first, ip) in sorted(new_asos.items(), key=lambda kv: kv[1])
        ]
        return out

    def _new_user_agents(self, activity: _Activity, account: _AccountBaseline) -> list[Indicator]:
        new = [ua for ua in activity.scope_agents if ua not in activity.baseline_agents]
        if not new:
            return []
        account_known = account.user_agents()
        return [
            Indicator("NEW_USER_AGENT", {"UserAgent": ua, "IsNewForEntireAccount": ua not in account_known},
                      evidence={"firstSeen": activity.scope_agents[ua], "selector": {"userAgent": ua}})
            for ua in sorted(new, key=lambda u: (activity.scope_agents[u], u))
        ]

    def _related_findings(self, related: list[_Finding]) -> list[Indicator]:
        out: list[Indicator] = []
        for finding in sorted(related, key=lambda f: (-f.severity, f.start_ms)):
            detail: dict[str, Any] = {"Arn": finding.arn, "Type": finding.type}
            ip = next((i for i in finding.remote_ips if is_ip(i)), "")
            if ip:
                detail["IpAddress"] = ip
            out.append(Indicator("RELATED_FINDING", detail, facts={"severity": finding.severity},
                                 evidence={"firstSeen": finding.start_ms, "lastSeen": finding.end_ms}))
            for ttp in self.ttps.for_finding(finding.type):
                ttp_detail: dict[str, Any] = {"Tactic": ttp.tactic, "Technique": ttp.technique, "Procedure": ttp.procedure}
                if ip:
                    ttp_detail["IpAddress"] = ip
                out.append(Indicator("TTP_OBSERVED", ttp_detail, facts={"weight": ttp.weight, "routine": False},
                                     evidence={"finding": finding.arn}))
        return out


def _by_importance(indicators: list[Indicator]) -> None:
    """In the order an analyst reads them: by the points each adds to the score, then by time,
    then by kind; each indicator's evidence says its points."""
    counted = counted_points(indicators)
    rank = {name: i for i, name in enumerate(INDICATOR_ORDER)}
    for indicator, value in zip(indicators, counted, strict=True):
        indicator.evidence["points"] = value
    order = sorted(range(len(indicators)), key=lambda i: (
        -counted[i], _time_of(indicators[i]), rank.get(indicators[i].type, len(rank)), i))
    indicators[:] = [indicators[i] for i in order]


def _time_of(indicator: Indicator) -> int:
    evidence = indicator.evidence
    moment = evidence.get("firstSeen") or evidence.get("startTime")
    return int(moment) if moment is not None else 1 << 62  # a group has no time of its own: last


def _via_label(role_arn: str, sessions: list[str]) -> str:
    """"role Admin, session eve-admin" ("sessions a, b (+3 more)" when several)."""
    names = [arn.rsplit("/", 1)[-1] for arn in sessions]
    shown = ", ".join(names[:2]) + (f" (+{len(names) - 2} more)" if len(names) > 2 else "")
    return f"role {role_arn.rsplit('/', 1)[-1]}, session{'s' if len(names) > 1 else ''} {shown}"


def _call_evidence(activity: _Activity, key: _Call, calls: int) -> dict[str, Any]:
    """What an API's calls from one address acted on (the targets most called, and that
    succeeded, first), its first event ids, and the selector that finds all of its events."""
    source, name, ip, via = key
    targets = sorted(activity.scope_targets.get(key, ()), key=lambda t: (-(t[1] - t[2]), -t[1], t[0]))
    return {
        "targets": [{"target": target, "calls": total, "failures": failed}
                    for target, total, failed in targets[:EVIDENCE_TARGETS]],
        "targetCount": len(targets),
        "eventIds": activity.scope_event_ids.get(key, []),
        "eventCount": calls,
        "selector": {"eventSource": source, "eventName": name, "sourceIp": ip, "via": via},
    }


# --- what the graph says about the principal ---------------------------------------------

# Error codes that mean "not allowed" (the call reached AWS, which refused it); any other code
# means the call failed for another reason (a missing trail, a wrong id).
_DENIED = re.compile(r"AccessDenied|UnauthorizedOperation|Unauthorized|Forbidden|NotAuthorized|AuthFailure")


def outcome_procedure(procedure: str, success: int, failure: int, errors: frozenset[str]) -> str:
    """The procedure as it happened: done, tried and denied, or tried and failed (its codes)."""
    codes = ", ".join(sorted(errors)) or "an error"
    if success and not failure:
        return procedure
    if success:
        return f"{procedure} ({failure:,} other attempt{'s' if failure != 1 else ''} failed: {codes})"
    if errors and all(_DENIED.search(code) for code in errors):
        return f"Attempted, and denied ({codes}): {procedure[:1].lower()}{procedure[1:]}"
    return f"Attempted, and failed ({codes}): {procedure[:1].lower()}{procedure[1:]}"


def _unusual_volume(conn: duckdb.DuckDBPyConnection, start_ms: int, notes: list[str]) -> list[Indicator]:
    """Hours of the scope whose API calls (or failed share of them) stand far out from the
    principal's active hours of the baseline (investigate/volume.py)."""
    base: list[tuple[int, int]] = []
    scope: list[tuple[int, int, int]] = []
    for hour, scoped, calls, failures in conn.execute(
        f"""SELECT time_ms // {HOUR_MS}, time_ms >= $start, count(*), count(*) FILTER (WHERE failed)
            FROM principal_events GROUP BY ALL ORDER BY 1""", {"start": start_ms},
    ).fetchall():
        if scoped:
            scope.append((hour * HOUR_MS, calls, failures))
        else:
            base.append((calls, failures))
    baseline = volume.baseline(base)
    if baseline is None:
        notes.append(f"UNUSUAL_VOLUME was not evaluated: the baseline holds {len(base)} active hours of the "
                     f"principal, fewer than the {volume.MIN_BASELINE_HOURS} it needs.")
        return []
    return [
        Indicator("UNUSUAL_VOLUME", {
            "Kind": spike.kind, "Hour": spike.hour_ms, "APICallCount": spike.calls, "APIFailureCount": spike.failures,
            "BaselineMedian": spike.baseline_median, "Factor": spike.factor,
        }, evidence={
            "firstSeen": spike.hour_ms, "z": spike.z, "baselineHours": baseline.hours, "eventCount": spike.calls,
            "selector": {"from": spike.hour_ms, "to": spike.hour_ms + HOUR_MS},
        })
        for spike in volume.spikes(baseline, scope)
    ]


# Calls only an instance's own software makes (the Systems Manager agent, on the instance):
# their address is the instance's.
ON_INSTANCE_SQL = """(event_source IN ('ec2messages.amazonaws.com', 'ssmmessages.amazonaws.com')
    OR (event_source = 'ssm.amazonaws.com' AND event_name IN ('UpdateInstanceInformation', 'ListInstanceAssociations',
        'UpdateInstanceAssociationStatus', 'PutInventory', 'PutComplianceItems', 'DescribeInstanceAssociationsStatus')))"""
# The autonomous systems of AWS's own addresses (AMAZON-02, AMAZON-AES, Amazon.com, Inc. ...).
_AWS_ASO = re.compile(r"amazon", re.IGNORECASE)

MAX_NOTED_CHAINS = 5  # role sessions a note names

# The "new" indicators: with no baseline of the principal's own, every value is new.
FIRSTS = ("NEW_GEOLOCATION", "NEW_ASO", "NEW_USER_AGENT")


def _baseline(conn: duckdb.DuckDBPyConnection, subject: Subject, start_ms: int, activity: _Activity) -> dict[str, Any]:
    """How much of the 45-day baseline the graph holds, for the account and for the principal
    (from the first records of each, kept in the graph's entities), with a note when short."""
    base = start_ms - BASELINE_MS

    def first(kind: str, entity_id: str) -> int | None:
        row = conn.execute("SELECT min(first_ms) FROM entities WHERE ekey = hash($id) AND type = $type AND id = $id",
                           {"id": entity_id, "type": kind}).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def days(first_ms: int | None) -> float:
        if first_ms is None or first_ms >= start_ms:
            return 0.0
        return round((start_ms - max(first_ms, base)) / DAY_MS, 1)

    account_first = first("aws_account", subject.account_id)
    entity_first = first("aws_role" if subject.entity_type == "IAM_ROLE" else "aws_user", subject.arn)
    out: dict[str, Any] = {
        "days": BASELINE_MS // DAY_MS, "accountDays": days(account_first), "accountFirstSeen": account_first,
        "entityDays": days(entity_first), "entityFirstSeen": entity_first, "entityEvents": activity.baseline_events,
        "note": "",
    }
    if not activity.scope_calls:
        return out  # a quiet scope has its own note
    held = (f"the graph holds {_days(out['accountDays'])} of the 45 days before the scope for account "
            f"{subject.account_id}" + (f" (its records start {_day(account_first)})" if account_first else ""))
    if activity.baseline_events == 0:
        mine = (f"{subject.arn} made no call in them" if out["entityDays"] else
                f"{subject.arn} has no event before the scope")
        out["note"] = (f"No baseline: {held}, and {mine}. Every user agent, place and network it used is new to "
                       "it, so each kind is one finding, weighed as one.")
    elif out["accountDays"] < out["days"]:
        out["note"] = (f"Short baseline: {held}, and {activity.baseline_events:,} events of {subject.arn}: "
                       "\"new\" means not seen since then.")
    return out


def _chains_note(subject: Subject, chains: list[ChainSession]) -> str:
    shown = "; ".join(f"{c.label} ({c.events:,} call{'s' if c.events != 1 else ''})" for c in chains[:MAX_NOTED_CHAINS])
    more = f"; and {len(chains) - MAX_NOTED_CHAINS} more" if len(chains) > MAX_NOTED_CHAINS else ""
    return (f"This investigation also covers the {len(chains)} role session{'s' if len(chains) != 1 else ''} "
            f"{subject.arn} started with AssumeRole*, whose calls count as its own (\"via role …\"): {shown}{more}.")


def _days(value: float) -> str:
    return "none" if value == 0 else f"{value:g} day" + ("" if value == 1 else "s")


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _group_firsts(indicators: list[Indicator], *, account_has_baseline: bool) -> None:
    """With no baseline of the principal's own, its "new" indicators of one kind are one finding:
    they score once, as one value new for the account only if the account has a baseline."""
    for indicator in indicators:
        if indicator.type in FIRSTS:
            new_for_account = bool(indicator.detail.get("IsNewForEntireAccount")) and account_has_baseline
            indicator.facts.update(noBaseline=True, key=f"no-baseline:{indicator.type}", newForAccount=new_for_account)
            indicator.evidence["noBaseline"] = True


# How a report says that the principal was not seen: the CLI recognises it (exit 1), and the
# note of a quiet scope ("made no API call in the scope"), so that neither reads as clean.
NEVER_SEEN = "has no events in this behavior graph"


def _why_quiet(conn: duckdb.DuckDBPyConnection, subject: Subject) -> str:
    """A scope without a single call of the principal is not a clean verdict: say whether the
    graph knows the principal at all, and when it was active."""
    first, last, events = conn.execute(
        f"SELECT min(time_ms), max(time_ms), count(*) FROM api_events WHERE {principal_filter(subject)}",
        {"arn": subject.arn}).fetchone() or (None, None, 0)
    if not events:
        return (f"{subject.arn} {NEVER_SEEN}: check the ARN (the account, the user or role name and its path), "
                "or load that account's CloudTrail logs. Nothing was there to investigate.")
    return (f"{subject.arn} made no API call in the scope. The graph holds {events:,} of its events, from "
            f"{_day(first)} to {_day(last)}: widen the scope to cover them.")


@dataclass(slots=True)
class _Activity:
    # (event source, event name, source IP) -> (successes, failures, request flags), in the scope
    # (event source, event name, source IP, the role it came through, "" for the principal's own)
    scope_calls: dict[_Call, tuple[int, int, frozenset[str]]] = field(default_factory=dict)
    baseline_apis: set[tuple[str, str]] = field(default_factory=set)
    baseline_events: int = 0
    baseline_failed_apis: set[tuple[str, str]] = field(default_factory=set)
    scope_ips: dict[str, int] = field(default_factory=dict)  # IP -> first seen in the scope
    baseline_ips: set[str] = field(default_factory=set)
    scope_agents: dict[str, int] = field(default_factory=dict)  # user agent -> first seen in the scope
    baseline_agents: set[str] = field(default_factory=set)
    # (first, last, ip) per IP and hour of activity in the scope, in time order
    scope_segments: list[tuple[int, int, str]] = field(default_factory=list)
    access_keys: set[str] = field(default_factory=set)
    instances: set[str] = field(default_factory=set)
    baseline_networks: set[str] = field(default_factory=set)
    # (event source, event name, source IP) -> first and last time in the scope
    scope_call_times: dict[_Call, tuple[int, int]] = field(default_factory=dict)
    # (event source, event name, source IP) -> the error codes of its failed calls in the scope
    scope_errors: dict[_Call, frozenset[str]] = field(default_factory=dict)
    # (event source, event name, source IP) -> its first event ids in the scope, and what its
    # calls acted on: (target, calls, failed calls)
    scope_event_ids: dict[_Call, list[str]] = field(default_factory=dict)
    scope_targets: dict[_Call, list[tuple[str, int, int]]] = field(default_factory=dict)
    scope_sessions: dict[_Call, list[str]] = field(default_factory=dict)  # the sessions it came through
    # The role sessions the principal started (AssumeRole*), whose calls count as its own
    chains: list[ChainSession] = field(default_factory=list)
    # The places and ASOs of the baseline addresses, from ip_geo when the graph is geolocated
    baseline_geo: tuple[set[str], set[str]] | None = None

    def read_baseline_geo(self, conn: duckdb.DuckDBPyConnection, geo: GeoIP, start_ms: int) -> None:
        rows = conn.execute(
            """SELECT DISTINCT g.location, g.aso FROM ip_geo g JOIN (
                   SELECT DISTINCT source_ip FROM principal_events WHERE time_ms < $start
               ) p ON g.ip = p.source_ip WHERE g.source = $source""",
            {"start": start_ms, "source": geo.signature},
        ).fetchall()
        self.baseline_geo = ({loc for loc, _ in rows if loc}, {aso for _, aso in rows if aso})

    def usual_address(self, ip: str) -> bool:
        """Whether the principal worked from this address, or its /24 (IPv6: /48), in the baseline.
        A call with no address (an AWS service's own) counts as usual."""
        return not ip or ip in self.baseline_ips or _network(ip) in self.baseline_networks

    @classmethod
    def read(cls, conn: duckdb.DuckDBPyConnection, subject: Subject, start_ms: int, end_ms: int) -> _Activity:
        # One scan of the graph's events for the principal's rows; the questions below ask them.
        chains = load_principal_events(conn, subject, start_ms - BASELINE_MS, end_ms)
        # Small aggregates, each of one dimension: far fewer rows to Python than one GROUP BY
        # over all of them (a busy role has thousands of API x address x agent combinations).
        at = {"start": start_ms}
        activity = cls(chains=chains)
        calls: dict[_Call, tuple[int, int, frozenset[str]]] = {}
        # A service's name given as the address (ec2.amazonaws.com) is no address: "" (folded
        # here, once per distinct value, rather than tested on every row).
        firsts: dict[_Call, list[tuple[int, str]]] = {}
        for source, name, raw_ip, via, success, failure, first, last, request_flags, errors, ids, times, sessions in \
                conn.execute(
            f"""SELECT event_source, event_name, source_ip, via_role, count(*) FILTER (WHERE NOT failed),
                       count(*) FILTER (WHERE failed), min(time_ms), max(time_ms),
                       string_agg(DISTINCT NULLIF(request_flags, ''), ','),
                       string_agg(DISTINCT NULLIF(error_code, ''), ','),
                       arg_min(event_id, time_ms, {EVIDENCE_EVENT_IDS}) FILTER (WHERE event_id <> ''),
                       arg_min(time_ms, time_ms, {EVIDENCE_EVENT_IDS}) FILTER (WHERE event_id <> ''),
                       list(DISTINCT via_session) FILTER (WHERE via_session <> '')
                FROM principal_events WHERE time_ms >= $start GROUP BY ALL""", at,
        ).fetchall():
            key = (source, name, raw_ip if raw_ip and is_ip(raw_ip) else "", via)
            flags = frozenset(request_flags.split(",")) if request_flags else frozenset()
            codes = frozenset(errors.split(",")) if errors else frozenset()
            if key in calls:  # service names as addresses fold into ""
                s0, f0, fl0 = calls[key]
                success, failure, flags = s0 + success, f0 + failure, fl0 | flags
                seen = activity.scope_call_times[key]
                first, last = min(first, seen[0]), max(last, seen[1])
                codes |= activity.scope_errors.get(key, frozenset())
            calls[key] = (success, failure, flags)
            activity.scope_call_times[key] = (first, last)
            firsts.setdefault(key, []).extend(zip(times or (), ids or (), strict=False))
            if codes:
                activity.scope_errors[key] = codes
            if sessions:
                activity.scope_sessions[key] = sorted(set(activity.scope_sessions.get(key, [])) | set(sessions))
        activity.scope_event_ids = {key: [i for _, i in sorted(pairs)[:EVIDENCE_EVENT_IDS]]
                                    for key, pairs in firsts.items()}
        for source, name, raw_ip, via, target, total, failure in conn.execute(
            """SELECT event_source, event_name, source_ip, via_role, target, count(*), count(*) FILTER (WHERE failed)
               FROM (
                   SELECT event_source, event_name, source_ip, via_role, failed,
                          unnest(string_split(targets, ' ')) AS target
                   FROM principal_events WHERE time_ms >= $start AND targets <> ''
               ) WHERE target <> '' GROUP BY ALL""", at,
        ).fetchall():
            key = (source, name, raw_ip if raw_ip and is_ip(raw_ip) else "", via)
            activity.scope_targets.setdefault(key, []).append((target, total, failure))
        for key, found in list(activity.scope_targets.items()):  # one target through folded addresses: once
            merged: dict[str, tuple[int, int]] = {}
            for target, total, failure in found:
                t0, f0 = merged.get(target, (0, 0))
                merged[target] = (t0 + total, f0 + failure)
            activity.scope_targets[key] = [(t, total, failure) for t, (total, failure) in merged.items()]
        activity.scope_calls = calls
        for source, name, failed, events in conn.execute(
            "SELECT event_source, event_name, failed, count(*) FROM principal_events WHERE time_ms < $start GROUP BY ALL",
            at,
        ).fetchall():
            activity.baseline_events += events
            activity.baseline_apis.add((source, name))
            if failed:
                activity.baseline_failed_apis.add((source, name))
        for ip, first in conn.execute(
            "SELECT source_ip, min(time_ms) FROM principal_events WHERE time_ms >= $start AND source_ip <> '' GROUP BY 1",
            at,
        ).fetchall():
            if is_ip(ip):
                activity.scope_ips[ip] = first
        activity.baseline_ips = {ip for (ip,) in conn.execute(
            "SELECT DISTINCT source_ip FROM principal_events WHERE time_ms < $start AND source_ip <> ''", at,
        ).fetchall() if is_ip(ip)}
        activity.scope_agents = dict(conn.execute(
            "SELECT user_agent, min(time_ms) FROM principal_events WHERE time_ms >= $start AND user_agent <> '' GROUP BY 1",
            at,
        ).fetchall())
        activity.baseline_agents = {ua for (ua,) in conn.execute(
            "SELECT DISTINCT user_agent FROM principal_events WHERE time_ms < $start AND user_agent <> ''", at,
        ).fetchall()}
        activity.baseline_networks = {_network(ip) for ip in activity.baseline_ips}
        segments = conn.execute(
            f"""SELECT min(time_ms), max(time_ms), source_ip FROM principal_events
                WHERE time_ms >= $start AND source_ip <> ''
                GROUP BY source_ip, time_ms // {HOUR_MS} ORDER BY 1, 3""",
            {"start": start_ms},
        ).fetchall()
        activity.scope_segments = [(a, b, ip) for a, b, ip in segments if ip in activity.scope_ips]
        for key, instance in conn.execute("SELECT DISTINCT access_key_id, instance FROM principal_events").fetchall():
            if key:
                activity.access_keys.add(key)
            if instance:
                activity.instances.add(instance)
        return activity


class _AccountBaseline:
    """What any principal of the account did in the baseline (read only when needed)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, account_id: str, start_ms: int,
                 investigator: Investigator) -> None:
        self._conn = conn
        self._investigator = investigator
        self._params = {"account": account_id, "base": start_ms - BASELINE_MS, "start": start_ms}
        self._where = """COALESCE(NULLIF(principal_account, ''), account_id) = $account AND principal_id <> ''
                         AND time_ms >= $base AND time_ms < $start"""
        self._geo_ready = False
        self._agents: set[str] | None = None
        self.located_more = False  # whether it added addresses to ip_geo

    def _located(self) -> None:
        """The account's baseline addresses with their places (one scan and one join); those
        not geolocated yet are looked up and added to ip_geo."""
        geo = self._investigator.geo
        assert geo is not None
        if self._geo_ready:
            return
        conn = self._conn
        conn.execute(IP_GEO)
        with_places = """CREATE OR REPLACE TEMP TABLE account_geo AS
            SELECT a.ip, g.location, g.aso FROM ({addresses}) a
            LEFT JOIN (SELECT * FROM ip_geo WHERE source = $source) g ON g.ip = a.ip"""
        conn.execute(
            with_places.format(addresses=f"SELECT DISTINCT source_ip AS ip FROM api_events "
                                         f"WHERE {self._where} AND source_ip <> ''"),
            {**self._params, "source": geo.signature},
        )
        if conn.execute("SELECT count(*) FROM account_geo WHERE location IS NULL").fetchone()[0]:  # type: ignore[index]
            conn.execute("CREATE OR REPLACE TEMP TABLE account_missing AS SELECT ip FROM account_geo WHERE location IS NULL")
            locate_addresses(conn, geo, table="account_missing")
            self.located_more = True
            conn.execute(with_places.format(addresses="SELECT ip FROM account_geo"), {"source": geo.signature})
        self._geo_ready = True

    def known(self, locations: set[str], asos: set[str]) -> tuple[set[str], set[str]]:
        """Which of these locations and ASOs any principal of the account used in the baseline."""
        geo = self._investigator.geo
        assert geo is not None
        wanted = {"locations": sorted(locations) or [""], "asos": sorted(asos) or [""]}
        if is_located(self._conn, geo):
            # Every address has its place already: join the account's events with the addresses
            # of just these places, with no need to gather all of the account's addresses.
            rows = self._conn.execute(
                f"""SELECT DISTINCT g.location, g.aso FROM api_events e JOIN (
                        SELECT ip, location, aso FROM ip_geo WHERE source = $source
                        AND (list_contains($locations, location) OR list_contains($asos, aso))
                    ) g ON e.source_ip = g.ip WHERE {self._where}""",
                {**self._params, **wanted, "source": geo.signature},
            ).fetchall()
        else:
            self._located()
            rows = self._conn.execute(
                """SELECT DISTINCT location, aso FROM account_geo
                   WHERE list_contains($locations, location) OR list_contains($asos, aso)""", wanted,
            ).fetchall()
        return {loc for loc, _ in rows if loc in locations}, {aso for _, aso in rows if aso in asos}

    def user_agents(self) -> set[str]:
        if self._agents is None:
            rows = self._conn.execute(
                f"SELECT DISTINCT user_agent FROM api_events WHERE {self._where} AND user_agent <> ''", self._params
            ).fetchall()
            self._agents = {value for (value,) in rows}
        return self._agents


# --- findings and finding groups ----------------------------------------------------------

def _read_findings(conn: duckdb.DuckDBPyConnection) -> list[_Finding]:
    """Every finding of the graph, the latest version of each (a finding is updated in place)."""
    rows = conn.execute(
        """SELECT id, arg_max(arn, updated_ms), arg_max(type, updated_ms), arg_max(severity, updated_ms),
                  arg_max(account_id, updated_ms),
                  min(CASE WHEN first_seen_ms > 0 THEN first_seen_ms ELSE time_ms END), max(time_ms),
                  arg_max(access_key_id, updated_ms), arg_max(principal_id, updated_ms),
                  arg_max(user_name, updated_ms), arg_max(instance_id, updated_ms), arg_max(remote_ips, updated_ms)
           FROM findings GROUP BY id"""
    ).fetchall()
    return [
        _Finding(i, arn or "", kind or "", float(sev or 0), acct or "", int(first), int(last), key or "",
                 pid or "", user or "", inst or "", list(ips or []))
        for i, arn, kind, sev, acct, first, last, key, pid, user, inst, ips in rows
    ]


def _involves(finding: _Finding, subject: Subject, activity: _Activity) -> bool:
    if finding.access_key_id and finding.access_key_id in activity.access_keys:
        return True
    if finding.instance_id and finding.instance_id in activity.instances:
        return True
    if finding.account_id == subject.account_id and finding.user_name == subject.name:
        return True
    # GuardDuty's principal id of a role session is "AROA...:session"; of a user, "AIDA...".
    return bool(finding.principal_id) and finding.principal_id == subject.arn


def _keys(finding: _Finding) -> Iterable[str]:
    if finding.access_key_id:
        yield "key:" + finding.access_key_id
    if finding.principal_id:
        yield "principal:" + finding.principal_id
    if finding.user_name:
        yield f"user:{finding.account_id}:{finding.user_name}"
    if finding.instance_id:
        yield "instance:" + finding.instance_id
    for ip in finding.remote_ips:
        if routable(ip) is not None:
            yield "ip:" + ip


def finding_groups(findings: list[_Finding]) -> list[list[_Finding]]:
    """Findings linked through a shared entity (access key, principal, user, instance, public IP)
    whose activity lies within GROUP_WINDOW_MS of each other; groups of two or more."""
    parent = list(range(len(findings)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_key: dict[str, list[int]] = defaultdict(list)
    for index, finding in enumerate(findings):
        for key in _keys(finding):
            by_key[key].append(index)
    for members in by_key.values():
        members.sort(key=lambda i: findings[i].start_ms)
        reach = findings[members[0]].end_ms
        for before, after in itertools.pairwise(members):
            finding = findings[after]
            if finding.start_ms - reach <= GROUP_WINDOW_MS:
                parent[root(after)] = root(before)
                reach = max(reach, finding.end_ms)
            else:
                reach = finding.end_ms
    groups: dict[int, list[_Finding]] = defaultdict(list)
    for index, finding in enumerate(findings):
        groups[root(index)].append(finding)
    return [g for g in groups.values() if len(g) >= 2]


def group_id(graph_arn: str, group: list[_Finding]) -> str:
    """Stable while the group's earliest finding stays its earliest."""
    first = min(group, key=lambda f: (f.start_ms, f.id))
    return str(uuid.uuid5(GROUP_NAMESPACE, f"{graph_arn}|{first.id}"))


def _related_groups(findings: list[_Finding], related: list[_Finding], graph_arn: str) -> list[Indicator]:
    if not related:
        return []
    wanted = {f.id for f in related}
    out = []
    for group in finding_groups(findings):
        if any(f.id in wanted for f in group):
            worst = max(f.severity for f in group)
            out.append(Indicator("RELATED_FINDING_GROUP", {"Id": group_id(graph_arn, group)},
                                 facts={"severity": worst},
                                 evidence={"findings": sorted(f.arn for f in group), "severity": worst}))
    return out
