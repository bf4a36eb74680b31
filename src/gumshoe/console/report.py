"""An investigation report (``api.investigations.investigation_report``) as the console shows
it: the indicators grouped by type, each group a table whose cells are text, a time, or a
link to an entity's profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gumshoe.indicators import TITLES

ORDER = list(TITLES)
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")


@dataclass
class Cell:
    text: str = ""
    time: int | None = None  # epoch ms, shown in UTC
    entity: tuple[str, str] | None = None  # (type, id): a link to its profile


@dataclass
class Group:
    type: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


def _text(value: Any) -> Cell:
    return Cell("-" if value is None or value == "" else str(value))


def _yes(value: Any) -> Cell:
    return Cell("yes" if value else "no")


def _ip(value: Any) -> Cell:
    return Cell(str(value), entity=("ip_address", str(value))) if value else Cell("-")


def _when(value: Any) -> Cell:
    return Cell(time=int(value)) if isinstance(value, (int, float)) else Cell("-")


def _rows(kind: str, items: list[dict[str, Any]]) -> tuple[list[str], list[list[Cell]]]:
    if kind == "TTP_OBSERVED":
        columns = ["Tactic", "Technique", "API", "IP address", "Successful", "Failed", "First seen", "Last seen",
                   "Procedure"]
        rows = []
        for i in items:
            d, e = i["detail"], i["evidence"]
            api = d.get("APIName") or ("finding " + str(e.get("finding", "")).rsplit("/", 1)[-1])
            rows.append([_text(d.get("Tactic")), _text(d.get("Technique")), _text(api), _ip(d.get("IpAddress")),
                         _text(d.get("APISuccessCount")), _text(d.get("APIFailureCount")),
                         _when(e.get("firstSeen")), _when(e.get("lastSeen")), _text(d.get("Procedure"))])
        return columns, rows
    if kind == "IMPOSSIBLE_TRAVEL":
        columns = ["From", "IP address", "At", "To", "IP address", "At", "Hours between", "Distance (km)"]
        return columns, [
            [_text(i["detail"].get("StartingLocation")), _ip(i["detail"].get("StartingIpAddress")),
             _when(i["evidence"].get("startTime")), _text(i["detail"].get("EndingLocation")),
             _ip(i["detail"].get("EndingIpAddress")), _when(i["evidence"].get("endTime")),
             _text(i["detail"].get("HourlyTimeDelta")), _text(f"{i['evidence'].get('distanceKm', 0):,}")]
            for i in items
        ]
    if kind == "FLAGGED_IP_ADDRESS":
        return ["IP address", "Reason"], [[_ip(i["detail"].get("IpAddress")), _text(i["detail"].get("Reason"))]
                                          for i in items]
    if kind == "NEW_GEOLOCATION":
        return ["Location", "IP address", "New for the account", "First seen"], [
            [_text(i["detail"].get("Location")), _ip(i["detail"].get("IpAddress")),
             _yes(i["detail"].get("IsNewForEntireAccount")), _when(i["evidence"].get("firstSeen"))] for i in items]
    if kind == "NEW_ASO":
        return ["Organization", "First IP address", "New for the account", "First seen"], [
            [_text(i["detail"].get("Aso")), _ip(i["evidence"].get("ipAddress")),
             _yes(i["detail"].get("IsNewForEntireAccount")), _when(i["evidence"].get("firstSeen"))] for i in items]
    if kind == "NEW_USER_AGENT":
        return ["User agent", "New for the account", "First seen"], [
            [Cell(str(i["detail"].get("UserAgent", "")), entity=("user_agent", str(i["detail"].get("UserAgent", "")))),
             _yes(i["detail"].get("IsNewForEntireAccount")), _when(i["evidence"].get("firstSeen"))] for i in items]
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


def groups(report: dict[str, Any]) -> list[Group]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for indicator in report.get("indicators", []):
        by_type.setdefault(indicator["type"], []).append(indicator)
    out = []
    for kind in sorted(by_type, key=lambda k: (ORDER.index(k) if k in ORDER else len(ORDER), k)):
        columns, rows = _rows(kind, by_type[kind])
        out.append(Group(kind, TITLES.get(kind, kind), columns, rows))
    return out
