"""An investigation report (``api.investigations.investigation_report``) as the console shows
it: the indicators grouped by type, each group a table whose cells are text, a time, or a
link to an entity's profile; the TTPs as a timeline over the scope, one lane per tactic; and
impossible travel as its two places on the map.

The report's evidence says when: a TTP of API calls carries its first and last call
(``firstSeen``, ``lastSeen``), a TTP of a finding names the finding, whose RELATED_FINDING
indicator carries its times; an IMPOSSIBLE_TRAVEL indicator carries its two addresses and
places, the distance and the two times (``startTime``, ``endTime``).

Beyond Detective's fields the report says how much baseline the graph held (``baseline``),
which role sessions of the principal it covered (``roleSessions``), and folds a principal's
firsts with no baseline into one row per kind (``group: noBaseline``, its ``members``); and it
has Gumshoe's own indicators, UNUSUAL_VOLUME and INSTANCE_CREDENTIALS_OFF_INSTANCE.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gumshoe.console import timeline, worldmap
from gumshoe.indicators import TITLES
from gumshoe.investigate.geo import GeoIP

ORDER = list(TITLES)
# The profile of an investigation's entity, by the report's entity type.
PROFILE_TYPES = {"IAM_USER": "aws_user", "IAM_ROLE": "aws_role"}
MEMBERS_SHOWN = 50  # the members of a folded row its <details> lists; the rest are counted
REASONS = {"NOT_THE_INSTANCES_ADDRESS": "not an address of the instance", "OUTSIDE_AWS": "outside AWS"}
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")
# MITRE ATT&CK's Enterprise tactics in the order of its matrix: the lanes of the TTP timeline.
TACTICS = ("Reconnaissance", "Resource Development", "Initial Access", "Execution", "Persistence",
           "Privilege Escalation", "Defense Evasion", "Credential Access", "Discovery", "Lateral Movement",
           "Collection", "Command and Control", "Exfiltration", "Impact")


@dataclass
class Cell:
    text: str = ""
    time: int | None = None  # epoch ms, shown in UTC (the link's text when entity is set)
    entity: tuple[str, str] | None = None  # (type, id): a link to its profile
    query: dict[str, str] = field(default_factory=dict)  # more of the profile link's query (hour=)
    entities: list[tuple[str, str]] = field(default_factory=list)  # several links, one after another


@dataclass
class Fold:
    """A row that stands for several indicators (firsts with no baseline): its members' rows,
    the first MEMBERS_SHOWN of them, and how many more there are."""

    summary: str
    rows: list[list[Cell]]
    more: int = 0


@dataclass
class Group:
    type: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    folds: dict[int, Fold] = field(default_factory=dict)  # by row index: the rows that fold others


def _text(value: Any) -> Cell:
    return Cell("-" if value is None or value == "" else str(value))


def _yes(value: Any) -> Cell:
    return Cell("yes" if value else "no")


def _ip(value: Any) -> Cell:
    return Cell(str(value), entity=("ip_address", str(value))) if value else Cell("-")


def _when(value: Any) -> Cell:
    return Cell(time=int(value)) if isinstance(value, (int, float)) else Cell("-")


def between(ms: int) -> str:
    """A time between two moments, for people: ``0 minutes``, ``12 minutes``, ``3 hours 5 minutes``, ``2 days 4 hours``."""
    minutes = max(0, int(ms)) // 60_000
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n != 1 else ''}"

    if days:
        return unit(days, "day") + (f" {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour") + (f" {unit(mins, 'minute')}" if mins else "")
    return unit(mins, "minute")


def _travel_time(indicator: dict[str, Any]) -> str:
    start, end = indicator["evidence"].get("startTime"), indicator["evidence"].get("endTime")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return between(int(end) - int(start))
    hours = indicator["detail"].get("HourlyTimeDelta")
    return f"{hours} hours" if hours is not None else "-"


def _acted_on(evidence: dict[str, Any]) -> str:
    """What a TTP's calls named (``account:…``, ``trail:…``), as its request parameters recorded them."""
    targets = [str(t.get("target", "")) for t in evidence.get("targets", []) if isinstance(t, dict)]
    more = int(evidence.get("targetCount", len(targets)) or 0) - len(targets)
    return ", ".join(targets) + (f" and {more:,} more" if more > 0 else "")


def _event_ids(evidence: dict[str, Any]) -> str:
    """The first event ids of a TTP, and how many there are (all through /_gumshoe/v1/investigation/events)."""
    ids = [str(e) for e in evidence.get("eventIds", [])]
    more = int(evidence.get("eventCount", len(ids)) or 0) - len(ids)
    return ", ".join(ids) + (f" and {more:,} more" if more > 0 else "")


def _rows(kind: str, items: list[dict[str, Any]], report: dict[str, Any]) -> tuple[list[str], list[list[Cell]]]:
    if kind == "TTP_OBSERVED":
        columns = ["Tactic", "Technique", "API or finding", "IP address", "Successful", "Failed", "First seen",
                   "Last seen", "Procedure", "Acted on", "Events"]
        rows = []
        findings = _findings(report)
        for i, first, last in ttp_times(report):
            d = i["detail"]
            what: Cell = _text(_ttp_label(i, findings))
            if "finding" in i["evidence"]:
                what.entity = ("finding", str(i["evidence"]["finding"]))
            rows.append([_text(d.get("Tactic")), _text(d.get("Technique")), what, _ip(d.get("IpAddress")),
                         _text(d.get("APISuccessCount")), _text(d.get("APIFailureCount")),
                         _when(first), _when(last), _text(d.get("Procedure")), _text(_acted_on(i["evidence"])),
                         _text(_event_ids(i["evidence"]))])
        return columns, rows
    if kind == "IMPOSSIBLE_TRAVEL":
        columns = ["From", "IP address", "At", "To", "IP address", "At", "Time between", "Distance (km)"]
        return columns, [
            [_text(i["detail"].get("StartingLocation")), _ip(i["detail"].get("StartingIpAddress")),
             _when(i["evidence"].get("startTime")), _text(i["detail"].get("EndingLocation")),
             _ip(i["detail"].get("EndingIpAddress")), _when(i["evidence"].get("endTime")),
             _text(_travel_time(i)), _text(f"{i['evidence'].get('distanceKm', 0):,}")]
            for i in items
        ]
    if kind == "FLAGGED_IP_ADDRESS":
        return ["IP address", "Reason"], [[_ip(i["detail"].get("IpAddress")), _text(i["detail"].get("Reason"))]
                                          for i in items]
    if kind == "UNUSUAL_VOLUME":
        return ["Hour", "What", "Calls", "Failed", "Baseline median", "Factor", "Robust z"], [
            _volume_row(i, report) for i in items]
    if kind == "INSTANCE_CREDENTIALS_OFF_INSTANCE":
        return ["Instance", "Session", "Used from", "Why", "The instance's addresses", "Calls", "First seen",
                "Last seen", "APIs"], [_off_instance_row(i) for i in items]
    if kind == "RELATED_FINDING":
        return ["Type", "IP address", "First seen", "Last seen", "Finding"], [
            [_text(i["detail"].get("Type")), _ip(i["detail"].get("IpAddress")), _when(i["evidence"].get("firstSeen")),
             _when(i["evidence"].get("lastSeen")),
             Cell(str(i["detail"].get("Arn", "")), entity=("finding", str(i["detail"].get("Arn", ""))))]
            for i in items]
    if kind == "RELATED_FINDING_GROUP":
        return ["Group", "Severity", "Findings"], [
            [_text(i["detail"].get("Id")), _text(i["evidence"].get("severity")),
             _text(", ".join(str(a).rsplit("/", 1)[-1] for a in i["evidence"].get("findings", [])))] for i in items]
    # An indicator type this console does not know yet: its detail as it is.
    return ["Detail", "Evidence"], [[_text(i["detail"]), _text(i["evidence"])] for i in items]


FIRST_COLUMNS = {
    "NEW_GEOLOCATION": ["Location", "IP address", "New for the account", "First seen"],
    "NEW_ASO": ["Organization", "First IP address", "New for the account", "First seen"],
    "NEW_USER_AGENT": ["User agent", "New for the account", "First seen"],
}


def _first_row(kind: str, indicator: dict[str, Any]) -> list[Cell]:
    d, e = indicator["detail"], indicator["evidence"]
    new, first = _yes(d.get("IsNewForEntireAccount")), _when(e.get("firstSeen"))
    if kind == "NEW_GEOLOCATION":
        return [_text(d.get("Location")), _ip(d.get("IpAddress")), new, first]
    if kind == "NEW_ASO":
        return [_text(d.get("Aso")), _ip(e.get("ipAddress")), new, first]
    agent = str(d.get("UserAgent", ""))
    return [Cell(agent, entity=("user_agent", agent)) if agent else Cell("-"), new, first]


def _folded(kind: str, group: dict[str, Any]) -> tuple[list[Cell], Fold]:
    """The one row of a principal's firsts of a kind with no baseline: the summary, how many are
    new for the whole account, the earliest; and its members' own rows."""
    members = [m for m in group.get("members", []) if isinstance(m, dict)]
    width = len(FIRST_COLUMNS[kind])
    new = sum(1 for m in members if m.get("detail", {}).get("IsNewForEntireAccount"))
    firsts = [t for m in members if (t := _ms(m.get("evidence", {}).get("firstSeen"))) is not None]
    summary = str(group.get("summary") or f"no baseline: {len(members):,} seen for the first time")
    row = [Cell(summary), *[Cell("-") for _ in range(width - 3)], Cell(f"{new:,} of {len(members):,}"),
           Cell(time=min(firsts)) if firsts else Cell("-")]
    shown = members[:MEMBERS_SHOWN]
    return row, Fold(summary, [_first_row(kind, m) for m in shown], len(members) - len(shown))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, form: str = "{:,}") -> Cell:
    if not _is_number(value):
        return _text(value)
    return Cell(form.format(value))


def _volume_row(indicator: dict[str, Any], report: dict[str, Any]) -> list[Cell]:
    """An hour of unusual volume: the hour (a link to the principal's profile narrowed to it),
    what stood out, its calls and failures, the baseline's median hour, the factor, the robust z."""
    d, e = indicator["detail"], indicator["evidence"]
    hour = _ms(d.get("Hour"))
    if hour is None:
        hour = _ms(e.get("firstSeen"))
    entity_type, arn = PROFILE_TYPES.get(str(report.get("entityType", ""))), report.get("entityArn")
    if hour is None:
        when = Cell("-")
    elif entity_type and arn:
        when = Cell(time=hour, entity=(entity_type, str(arn)), query={"hour": str(hour)})
    else:
        when = Cell(time=hour)
    calls = d.get("Kind", "CALLS") == "CALLS"
    median = d.get("BaselineMedian")
    if _is_number(median):
        text = f"{median:g} calls an active hour" if calls else f"{median:.0%} of calls failed"
        hours = e.get("baselineHours")
        baseline = Cell(text + (f" ({hours:,} active hours)" if isinstance(hours, int) else ""))
    else:
        baseline = _text(median)
    factor = d.get("Factor")
    return [when, Cell("API calls" if calls else "failed share of calls"), _number(d.get("APICallCount")),
            _number(d.get("APIFailureCount")), baseline,
            _number(factor, "×{:g}") if factor is not None else Cell("-"), _number(e.get("z"), "{:g}")]


def _off_instance_row(indicator: dict[str, Any]) -> list[Cell]:
    """An instance's credentials used elsewhere: the instance, the session, the address it was
    used from and why it is foreign, the instance's own addresses, the calls and their APIs."""
    d, e = indicator["detail"], indicator["evidence"]
    instance, session = str(d.get("InstanceId") or ""), str(d.get("SessionArn") or "")
    reason = str(d.get("Reason") or "")
    why = REASONS.get(reason, reason or "-") + (f" ({e['aso']})" if e.get("aso") else "")
    own = [str(ip) for ip in d.get("InstanceIpAddresses") or () if ip]
    apis = [str(a) for a in e.get("apis") or ()]
    return [Cell(instance, entity=("ec2_instance", instance)) if instance else Cell("-"),
            Cell(session, entity=("role_session", session)) if session else Cell("-"),
            _ip(d.get("IpAddress")), Cell(why),
            Cell(entities=[("ip_address", ip) for ip in own]) if own else Cell("-"),
            _number(e.get("eventCount")), _when(e.get("firstSeen")), _when(e.get("lastSeen")),
            _text(", ".join(apis))]


def groups(report: dict[str, Any]) -> list[Group]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for indicator in report.get("indicators", []):
        by_type.setdefault(indicator["type"], []).append(indicator)
    out = []
    for kind in sorted(by_type, key=lambda k: (ORDER.index(k) if k in ORDER else len(ORDER), k)):
        items = by_type[kind]
        if kind in FIRST_COLUMNS:
            out.append(_firsts_group(kind, items))
        else:
            columns, rows = _rows(kind, items, report)
            out.append(Group(kind, TITLES.get(kind, kind), columns, rows))
    return out


def _firsts_group(kind: str, items: list[dict[str, Any]]) -> Group:
    """Firsts (new places, networks, user agents): a row each, or one row folding those of a
    principal with no baseline."""
    group = Group(kind, TITLES.get(kind, kind), FIRST_COLUMNS[kind])
    for item in items:
        if item.get("group") == "noBaseline":
            row, fold = _folded(kind, item)
            group.folds[len(group.rows)] = fold
            group.rows.append(row)
        else:
            group.rows.append(_first_row(kind, item))
    return group


def indicator_count(report: dict[str, Any]) -> int:
    """The report's indicators, each folded row counted by its members."""
    return sum(int(i.get("count", 1)) if i.get("group") else 1 for i in report.get("indicators", []))


# --- what the report covered: its baseline, the role sessions ----------------------------


def _days(value: Any) -> str:
    days = float(value) if _is_number(value) else 0.0
    return "no days" if days <= 0 else f"{days:g} day" + ("" if days == 1 else "s")


def baseline_note(report: dict[str, Any]) -> str | None:
    """How much baseline the graph held before the scope, for the principal and its account, in
    a sentence; None when the report does not say (an investigation older than the field)."""
    base = report.get("baseline")
    if not isinstance(base, dict):
        return None
    who = {"IAM_USER": "user", "IAM_ROLE": "role"}.get(str(report.get("entityType", "")), "principal")
    total = base.get("days", 45)
    entity_days, account_days = base.get("entityDays", 0), base.get("accountDays", 0)
    note = f"the graph holds {_days(entity_days)} of the {total}-day baseline before the scope for this {who}"
    if account_days != entity_days:
        note += f" ({_days(account_days)} for its account)"
    events = base.get("entityEvents")
    if events == 0:
        note += (f", and no call of the {who}'s own in them: \"new\" indicators from an empty baseline "
                 "are counted as one")
    elif isinstance(events, int):
        note += f", with {events:,} call{'s' if events != 1 else ''} of its own"
        if isinstance(entity_days, (int, float)) and isinstance(total, (int, float)) and entity_days < total:
            note += ": \"new\" means not seen since the baseline's records start"
    return note


@dataclass
class RoleSession:
    role_arn: str
    role: str  # the role's name
    session_arn: str
    session: str  # the session's name
    events: int | None
    first_ms: int | None
    last_ms: int | None


def role_sessions(report: dict[str, Any]) -> list[RoleSession]:
    """The role sessions the principal started with AssumeRole*, whose calls the report counted
    as its own ("via role X, session Y")."""
    out = []
    for s in report.get("roleSessions") or ():
        if not isinstance(s, dict) or not s.get("sessionArn"):
            continue
        role_arn, session_arn = str(s.get("roleArn") or ""), str(s["sessionArn"])
        events = s.get("events")
        out.append(RoleSession(role_arn, role_arn.rsplit("/", 1)[-1], session_arn, session_arn.rsplit("/", 1)[-1],
                               events if isinstance(events, int) else None, _ms(s.get("firstSeen")),
                               _ms(s.get("lastSeen"))))
    return out


# --- the TTPs as a timeline ------------------------------------------------------------------


def _of_type(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [i for i in report.get("indicators", []) if i["type"] == kind]


def _ms(value: Any) -> int | None:
    return int(value) if _is_number(value) else None


def ttp_anchor(index: int) -> str:
    """The id of the TTP table's row ``index`` (0-based), which the timeline's bars link to."""
    return f"TTP_OBSERVED-{index}"


def _findings(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's RELATED_FINDING indicators by the finding's ARN."""
    return {str(i["detail"].get("Arn", "")): i for i in _of_type(report, "RELATED_FINDING")}


def ttp_times(report: dict[str, Any]) -> list[tuple[dict[str, Any], int | None, int | None]]:
    """Each TTP indicator, in the report's order, with its first and last time (None when the
    report does not say): its calls' own, or its finding's (from the RELATED_FINDING of it)."""
    findings = _findings(report)
    out = []
    for ttp in _of_type(report, "TTP_OBSERVED"):
        evidence = ttp["evidence"]
        if "finding" in evidence:
            evidence = findings.get(str(evidence["finding"]), {}).get("evidence", {})
        first, last = _ms(evidence.get("firstSeen")), _ms(evidence.get("lastSeen"))
        out.append((ttp, first, last if last is not None else first))
    return out


def _ttp_label(ttp: dict[str, Any], findings: dict[str, dict[str, Any]]) -> str:
    """The API of a TTP (``iam:CreateUser``), or the type of its finding."""
    detail = ttp["detail"]
    if detail.get("APIName"):
        return str(detail["APIName"])
    arn = str(ttp["evidence"].get("finding", ""))
    finding_type = findings.get(arn, {}).get("detail", {}).get("Type")
    return f"finding {finding_type}" if finding_type else "finding " + arn.rsplit("/", 1)[-1]


def ttp_timeline(report: dict[str, Any], utc: Callable[[Any], str]) -> tuple[timeline.Lanes | None, int]:
    """The TTPs over the investigation's scope, one lane per tactic in ATT&CK's order; and how
    many TTPs the report gives no time for (they are in the table only)."""
    placed, untimed = [], 0
    timed = ttp_times(report)
    findings = _findings(report)
    labels = Counter((t["detail"].get("Tactic", ""), _ttp_label(t, findings)) for t, first, _ in timed
                     if first is not None)
    for index, (ttp, first, last) in enumerate(timed):
        if first is None or last is None:
            untimed += 1
            continue
        detail = ttp["detail"]
        tactic = str(detail.get("Tactic") or "Unknown tactic")
        label = _ttp_label(ttp, findings)
        if labels[detail.get("Tactic", ""), label] > 1 and detail.get("IpAddress"):
            label += f" ({detail['IpAddress']})"
        counts = ""
        if detail.get("APISuccessCount") is not None:
            counts = f", {detail.get('APISuccessCount', 0)} successful and {detail.get('APIFailureCount', 0)} failed"
        origin = f" from {detail['IpAddress']}" if detail.get("IpAddress") else ""
        when = utc(first) if first == last else f"{utc(first)} – {utc(last)}"
        title = f"{tactic}: {detail.get('Technique', '')}: {_ttp_label(ttp, findings)}{origin}{counts}; {when}"
        placed.append(timeline.Item(tactic, first, last, label, title, ttp_anchor(index)))
    if not placed:
        return None, untimed
    axis = timeline.Axis(int(report["scopeStartTime"]), int(report["scopeEndTime"]))
    return timeline.lanes(placed, axis, TACTICS), untimed


# --- impossible travel on the map ----------------------------------------------------------


def travels(report: dict[str, Any], geo: GeoIP | None, utc: Callable[[Any], str],
            href: Callable[[str], str]) -> tuple[worldmap.Map, list[str]] | None:
    """The IMPOSSIBLE_TRAVEL indicators as journeys on one map, numbered in the report's order
    (an arrow from where the principal was to where it was next), and a sentence for each:
    from where to where, how far, in how long; None when the report has none."""
    found = _of_type(report, "IMPOSSIBLE_TRAVEL")
    if not found:
        return None
    pairs, sentences = [], []
    for i in found:
        d, e = i["detail"], i["evidence"]
        start_ip, end_ip = str(d.get("StartingIpAddress", "")), str(d.get("EndingIpAddress", ""))
        start_at, end_at = utc(e.get("startTime")), utc(e.get("endTime"))
        distance = f"{e['distanceKm']:,} km" if isinstance(e.get("distanceKm"), (int, float)) else "a distance not recorded"
        sentence = (f"{d.get('StartingLocation', '-')} ({start_ip}, {start_at}) to {d.get('EndingLocation', '-')} "
                    f"({end_ip}, {end_at}): {distance} in {_travel_time(i)}")
        sentences.append(sentence)
        pairs.append((
            worldmap.Place(str(d.get("StartingLocation", "")), start_ip, [f"{start_ip} at {start_at}"],
                           href=href(start_ip) if start_ip else None),
            worldmap.Place(str(d.get("EndingLocation", "")), end_ip, [f"{end_ip} at {end_at}"],
                           href=href(end_ip) if end_ip else None),
            f"{len(sentences)}. {sentence}"))
    return worldmap.journeys(pairs, geo), sentences
