"""The events behind an investigation: the principal's own, gathered once per investigation,
and the ones a single indicator stands for, a page at a time.

    api_events ─> load_principal_events(subject, from, to)  ─> TEMP principal_events
                                                               (the engine's questions)
    an indicator's selector + the scope ─> indicator_events ─> a page of raw events, by
                                                               (time, event id)

A selector is what an indicator's evidence keeps to find its events again: any of
``eventSource``, ``eventName``, ``sourceIp`` ("" for calls with no address, or an AWS service's
name as one), ``userAgent``, ``principal`` (one role session of the principal's), ``via`` (the
role of the sessions it started that made the calls; "" for its own calls), ``from`` and ``to``
(epoch ms: an hour of them). Only those keys reach the SQL, each as a bound value.
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
                     "principal": "principal_id", "via": "via_role"}


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


_COLUMNS = """time_ms, event_id, event_source, event_name, source_ip, user_agent,
    error_code <> '' OR login_result = 'Failure' AS failed, error_code, access_key_id, request_flags,
    COALESCE(targets, '') AS targets, principal_id, region, account_id, vpc_endpoint_id,
    CASE WHEN session_name = instance_id THEN instance_id ELSE '' END AS instance,
    CASE WHEN event_name LIKE 'AssumeRole%' AND error_code = '' AND target_session_arn LIKE 'arn:%:assumed-role/%'
         THEN target_session_arn ELSE '' END AS started"""
# AssumeRole's DurationSeconds is at most 12 hours: a session's calls later than that after it was
# started are another start's (or nobody's this principal knows).
MAX_SESSION_MS = 12 * 3_600_000
# Sessions started by sessions the principal started, and so on, this many times.
MAX_CHAIN_DEPTH = 3


@dataclass(frozen=True, slots=True)
class ChainSession:
    """A role session the principal started (through AssumeRole*, maybe through another session)."""

    session_arn: str
    role_arn: str
    events: int
    first_ms: int
    last_ms: int

    @property
    def label(self) -> str:
        """"role Admin, session eve-admin": what the report says a call came through."""
        role = self.role_arn.rsplit("/", 1)[-1] or self.role_arn
        return f"role {role}, session {self.session_arn.rsplit('/', 1)[-1]}"


def load_principal_events(conn: duckdb.DuckDBPyConnection, subject: Subject, from_ms: int,
                          to_ms: int) -> list[ChainSession]:
    """The principal's rows in [from, to), into the temporary table principal_events that the
    engine's questions (and a page of evidence) ask: its own calls (``via_role`` ""), then those
    of the role sessions it started with AssumeRole* (``via_role``, ``via_session``: which).

    A session's call counts as the principal's when the latest start of that session before
    the call (by anyone: the same role and session name can be started by others) was the
    principal's or one of its sessions', at most MAX_SESSION_MS before."""
    params = {"arn": subject.arn, "from": from_ms, "to": to_ms}
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE principal_events AS
            SELECT {_COLUMNS}, '' AS via_role, '' AS via_session
            FROM api_events WHERE {principal_filter(subject)} AND time_ms >= $from AND time_ms < $to""", params,
    )
    known: set[str] = set()
    new = {arn for (arn,) in conn.execute(
        "SELECT DISTINCT started FROM principal_events WHERE started <> ''").fetchall()}
    for _ in range(MAX_CHAIN_DEPTH):
        # A role's own sessions are its own calls already.
        new = {arn for arn in new - known if not (subject.entity_type == "IAM_ROLE" and _session_of(arn, subject.arn))}
        if not new:
            break
        known |= new
        new = {arn for (arn,) in conn.execute(
            """SELECT DISTINCT target_session_arn FROM api_events
               WHERE principal_type = 'role_session' AND list_contains($sessions, principal_id)
                 AND event_name LIKE 'AssumeRole%' AND error_code = '' AND target_session_arn LIKE 'arn:%:assumed-role/%'
                 AND time_ms >= $from AND time_ms < $to""",
            {"from": from_ms, "to": to_ms, "sessions": sorted(new)}).fetchall()}
    if not known:
        return []
    sessions = {**params, "sessions": sorted(known), "window": MAX_SESSION_MS}
    # Every start of these sessions: whether it was the principal's (or its sessions'), and the role.
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE chain_starts AS
            SELECT time_ms AS at, target_session_arn AS session, any_value(target_role_arn) AS role,
                   bool_or(({principal_filter(subject)}) OR list_contains($sessions, principal_id)) AS ours
            FROM api_events
            WHERE event_name LIKE 'AssumeRole%' AND error_code = '' AND list_contains($sessions, target_session_arn)
              AND time_ms >= $from - $window AND time_ms < $to
            GROUP BY time_ms, target_session_arn""", sessions,
    )
    conn.execute(
        f"""INSERT INTO principal_events
            SELECT e.* EXCLUDE (role_arn), COALESCE(NULLIF(s.role, ''), e.role_arn), e.principal_id FROM (
                SELECT {_COLUMNS}, role_arn FROM api_events
                WHERE principal_type = 'role_session' AND list_contains($sessions, principal_id)
                  AND time_ms >= $from AND time_ms < $to
            ) e ASOF JOIN chain_starts s ON s.session = e.principal_id AND e.time_ms >= s.at
            WHERE s.ours AND e.time_ms - s.at < $window""", {k: v for k, v in sessions.items() if k != "arn"},
    )
    return [ChainSession(arn, role, events, first, last) for arn, role, events, first, last in conn.execute(
        """SELECT via_session, any_value(via_role), count(*), min(time_ms), max(time_ms) FROM principal_events
           WHERE via_session <> '' GROUP BY 1 ORDER BY 4, 1""").fetchall()]


def _session_of(session_arn: str, role_arn: str) -> bool:
    """Whether arn:aws:sts::111122223333:assumed-role/Admin/eve is a session of
    arn:aws:iam::111122223333:role/(path/)Admin."""
    session, role = session_arn.split(":", 5), role_arn.split(":", 5)
    if len(session) < 6 or len(role) < 6 or session[4] != role[4]:
        return False
    parts = session[5].split("/")
    return len(parts) >= 3 and parts[1] == role[5].rsplit("/", 1)[-1]


def selector_sql(selector: dict[str, Any], params: dict[str, Any]) -> str:
    """The SQL test of a selector over principal_events, its values bound into params."""
    tests = ["TRUE"]
    for key, column in _SELECTOR_COLUMNS.items():
        if isinstance(selector.get(key), str):
            params[key] = selector[key]
            tests.append(f"{column} = ${key}")
    for key, test in (("from", "time_ms >= $sel_from"), ("to", "time_ms < $sel_to")):
        if isinstance(selector.get(key), int):
            params[f"sel_{key}"] = selector[key]
            tests.append(test)
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
    load_principal_events(conn, subject, start_ms - MAX_SESSION_MS, end_ms)  # sessions started just before
    params: dict[str, Any] = {"limit": limit, "start": start_ms}
    where = "time_ms >= $start AND " + selector_sql(selector, params)
    if after is not None:
        params["after_time"], params["after_id"] = after
        where += " AND (time_ms, event_id) > ($after_time, $after_id)"
    rows = conn.execute(
        f"""SELECT event_id, time_ms, event_source, event_name, source_ip, user_agent, error_code, principal_id,
                   access_key_id, targets, request_flags, region, account_id, via_role
            FROM principal_events WHERE {where} ORDER BY time_ms, event_id LIMIT $limit""", params,
    ).fetchall()
    return [
        {"eventId": event_id, "eventTime": time_ms, "eventSource": source, "eventName": name, "sourceIpAddress": ip,
         "userAgent": agent, "errorCode": error, "principal": principal, "accessKeyId": key,
         "targets": targets.split() if targets else [], "requestFlags": flags.split(",") if flags else [],
         "region": region, "accountId": account, **({"viaRole": via} if via else {})}
        for event_id, time_ms, source, name, ip, agent, error, principal, key, targets, flags, region, account, via
        in rows
    ]
