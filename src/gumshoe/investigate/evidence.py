"""The events behind an investigation: the principal's own, gathered once per investigation,
and the ones a single indicator stands for, a page at a time.

    api_events ─> load_principal_events(subject, from, to)  ─> TEMP principal_events
                                                               (the engine's questions)
    an indicator's selector + the scope ─> indicator_events ─> a page of raw events, by
                                                               (time, event id)

A selector is what an indicator's evidence keeps to find its events again: any of
``eventSource``, ``eventName``, ``sourceIp`` ("" for calls with no address, or an AWS service's
name as one), ``userAgent``, ``principal`` (one role session of the principal's). Only those keys reach the SQL, each as a bound value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from gumshoe.formats.sql import is_ip

# Event ids an indicator's evidence carries; all of them are a page of indicator_events away.
EVIDENCE_EVENT_IDS = 5
# The targets an indicator's evidence lists (the most called first); targetCount says how many in all.
EVIDENCE_TARGETS = 20
_SELECTOR_COLUMNS = {"eventSource": "event_source", "eventName": "event_name", "userAgent": "user_agent",
                     "principal": "principal_id"}


@dataclass(frozen=True, slots=True)
class Subject:
    """The principal under investigation: an IAM user, or an IAM role (all its sessions)."""

    arn: str
    entity_type: str  # IAM_USER | IAM_ROLE
    account_id: str

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


def principal_filter(subject: Subject) -> str:
    """The SQL test (over api_events, with $arn bound) of the principal's own events."""
    if subject.entity_type == "IAM_ROLE":
        return "principal_type = 'role_session' AND role_arn = $arn"
    return "principal_type = 'aws_user' AND principal_id = $arn"


def load_principal_events(conn: duckdb.DuckDBPyConnection, subject: Subject, from_ms: int, to_ms: int) -> None:
    """One scan of the graph's events for the principal's rows in [from, to), into the temporary
    table principal_events that the engine's questions (and a page of evidence) ask."""
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE principal_events AS
            SELECT time_ms, event_id, event_source, event_name, source_ip, user_agent,
                   error_code <> '' OR login_result = 'Failure' AS failed, error_code, access_key_id, request_flags,
                   COALESCE(targets, '') AS targets, principal_id, region, account_id, vpc_endpoint_id,
                   CASE WHEN session_name = instance_id THEN instance_id ELSE '' END AS instance
            FROM api_events WHERE {principal_filter(subject)} AND time_ms >= $from AND time_ms < $to""",
        {"arn": subject.arn, "from": from_ms, "to": to_ms},
    )


def selector_sql(selector: dict[str, Any], params: dict[str, Any]) -> str:
    """The SQL test of a selector over principal_events, its values bound into params."""
    tests = ["TRUE"]
    for key, column in _SELECTOR_COLUMNS.items():
        if isinstance(selector.get(key), str):
            params[key] = selector[key]
            tests.append(f"{column} = ${key}")
    ip = selector.get("sourceIp")
    if isinstance(ip, str):
        if ip:
            params["sourceIp"] = ip
            tests.append("source_ip = $sourceIp")
        else:  # the engine folds a service's name given as the address into "no address"
            tests.append(f"(source_ip = '' OR NOT {is_ip('source_ip')})")
    return " AND ".join(tests)


def indicator_events(conn: duckdb.DuckDBPyConnection, subject: Subject, start_ms: int, end_ms: int,
                     selector: dict[str, Any], after: tuple[int, str] | None, limit: int) -> list[dict[str, Any]]:
    """The principal's events in [start, end) that a selector names, in (time, event id) order,
    after a page's last (time, event id); up to limit of them."""
    load_principal_events(conn, subject, start_ms, end_ms)
    params: dict[str, Any] = {"limit": limit}
    where = selector_sql(selector, params)
    if after is not None:
        params["after_time"], params["after_id"] = after
        where += " AND (time_ms, event_id) > ($after_time, $after_id)"
    rows = conn.execute(
        f"""SELECT event_id, time_ms, event_source, event_name, source_ip, user_agent, error_code, principal_id,
                   access_key_id, targets, request_flags, region, account_id
            FROM principal_events WHERE {where} ORDER BY time_ms, event_id LIMIT $limit""", params,
    ).fetchall()
    return [
        {"eventId": event_id, "eventTime": time_ms, "eventSource": source, "eventName": name, "sourceIpAddress": ip,
         "userAgent": agent, "errorCode": error, "principal": principal, "accessKeyId": key,
         "targets": targets.split() if targets else [], "requestFlags": flags.split(",") if flags else [],
         "region": region, "accountId": account}
        for event_id, time_ms, source, name, ip, agent, error, principal, key, targets, flags, region, account in rows
    ]
