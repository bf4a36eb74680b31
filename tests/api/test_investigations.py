"""The five investigation operations against a real control store and graph store: who may
start one, on what, the RUNNING -> SUCCESSFUL / FAILED life, lists with filters, sorting and
pages, indicators, state changes, and a restart in the middle of a run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_harness import ADMIN, OTHER_ADMIN, Env
from sqlalchemy import select, update

from gumshoe.api import investigations as inv
from gumshoe.api.registry import HANDLERS, READ_ONLY
from gumshoe.errors import ResourceNotFoundException, ValidationException
from gumshoe.graph.stores import GraphStores
from gumshoe.investigate.engine import Investigator
from gumshoe.investigate.intel import ThreatIntel
from gumshoe.investigate.runner import MAX_ATTEMPTS, InvestigationRunner
from gumshoe.investigate.ttp import TtpMap
from gumshoe.protocol.model import operations
from gumshoe.store.schema import investigations

MEMBER = "222222222222"
OUTSIDER = "333333333333"
DAY = dt.timedelta(days=1)
END = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)


def user(account: str = ADMIN, name: str = "alice") -> str:
    return f"arn:aws:iam::{account}:user/{name}"


@pytest.fixture
def world(env: Env, tmp_path: Path) -> Any:
    class World:
        arn = env.graph(ADMIN)
        stores = GraphStores(tmp_path / "graphs")
        runner = InvestigationRunner(env.store, stores, Investigator(None, TtpMap.load(), ThreatIntel(())))

        def start(self, entity: str = user(), start: dt.datetime = END - DAY, end: dt.datetime = END,
                  account: str = ADMIN) -> str:
            out = env.call(inv.start_investigation, account,
                           {"GraphArn": self.arn, "EntityArn": entity, "ScopeStartTime": start, "ScopeEndTime": end})
            return str(out["InvestigationId"])

        def get(self, investigation_id: str) -> dict[str, Any]:
            return dict(env.call(inv.get_investigation, ADMIN, {"GraphArn": self.arn, "InvestigationId": investigation_id}))

    world = World()
    env.join(world.arn, ADMIN, MEMBER)
    yield world
    world.stores.close()


def test_every_model_operation_has_an_api_function():
    assert set(HANDLERS) == {op.name for op in operations()}
    assert len(HANDLERS) == 29


def test_read_only_operations():
    assert {"GetInvestigation", "ListInvestigations", "ListIndicators"} <= READ_ONLY
    assert not READ_ONLY & {"StartInvestigation", "UpdateInvestigationState"}


def test_start_runs_to_successful_with_a_21_digit_id(env: Env, world: Any) -> None:
    investigation_id = world.start(user(MEMBER, "bob"))
    assert len(investigation_id) == 21 and investigation_id.isdigit()
    before = world.get(investigation_id)
    assert before["Status"] == "RUNNING" and before["State"] == "ACTIVE"
    assert before.get("Severity") is None
    assert before["EntityType"] == "IAM_USER" and before["EntityArn"] == user(MEMBER, "bob")
    assert before["ScopeStartTime"] == (END - DAY).timestamp() and before["ScopeEndTime"] == END.timestamp()
    assert world.runner.run_pending() == 1
    after = world.get(investigation_id)
    assert after["Status"] == "SUCCESSFUL"
    assert after["Severity"] == "INFORMATIONAL"  # an empty graph shows nothing
    report = inv.investigation_report(env.store, world.arn, investigation_id)
    assert any("GeoIP" in note for note in report["notes"])  # skipped indicators are said, never silent


def test_roles_are_iam_role(env: Env, world: Any) -> None:
    investigation_id = world.start("arn:aws:iam::111111111111:role/service-role/Deployer")
    assert world.get(investigation_id)["EntityType"] == "IAM_ROLE"


@pytest.mark.parametrize("entity", [
    "arn:aws:iam::111111111111:group/admins",
    "arn:aws:iam::111111111111:root",
    "arn:aws:sts::111111111111:assumed-role/Admin/session",
    "arn:aws:s3:::bucket",
    "arn:aws:iam::1111:user/alice",
])
def test_entity_must_be_an_iam_user_or_role(env: Env, world: Any, entity: str) -> None:
    with pytest.raises(ValidationException) as exc:
        world.start(entity)
    assert "IAM user or role" in exc.value.message


def test_entity_account_must_contribute_to_the_graph(env: Env, world: Any) -> None:
    with pytest.raises(ValidationException) as exc:
        world.start(user(OUTSIDER))
    assert OUTSIDER in exc.value.message and "ENABLED" in exc.value.message
    env.invite(world.arn, ADMIN, OUTSIDER)  # INVITED does not contribute yet
    with pytest.raises(ValidationException):
        world.start(user(OUTSIDER))


def test_scope_start_must_precede_end(env: Env, world: Any) -> None:
    with pytest.raises(ValidationException) as exc:
        world.start(start=END, end=END)
    assert "ScopeStartTime" in exc.value.message


def test_only_the_administrator(env: Env, world: Any) -> None:
    investigation_id = world.start()
    for account in (MEMBER, OTHER_ADMIN):
        with pytest.raises(ResourceNotFoundException):
            world.start(account=account)
        for fn, extra in ((inv.get_investigation, {"InvestigationId": investigation_id}),
                          (inv.list_investigations, {}),
                          (inv.list_indicators, {"InvestigationId": investigation_id}),
                          (inv.update_investigation_state, {"InvestigationId": investigation_id, "State": "ARCHIVED"})):
            with pytest.raises(ResourceNotFoundException):
                env.call(fn, account, {"GraphArn": world.arn, **extra})


def test_unknown_investigation_is_not_found(env: Env, world: Any) -> None:
    with pytest.raises(ResourceNotFoundException):
        world.get("1" * 21)
    with pytest.raises(ResourceNotFoundException):
        env.call(inv.list_indicators, ADMIN, {"GraphArn": world.arn, "InvestigationId": "1" * 21})


def test_update_state_archives_and_restores(env: Env, world: Any) -> None:
    investigation_id = world.start()
    for state in ("ARCHIVED", "ACTIVE", "ARCHIVED"):
        assert env.call(inv.update_investigation_state, ADMIN,
                        {"GraphArn": world.arn, "InvestigationId": investigation_id, "State": state}) is None
        assert world.get(investigation_id)["State"] == state


def _list(env: Env, world: Any, **params: Any) -> dict[str, Any]:
    return dict(env.call(inv.list_investigations, ADMIN, {"GraphArn": world.arn, **params}))


def test_list_filters_sorts_and_pages(env: Env, world: Any) -> None:
    ids = [world.start(user(name=f"u{i}")) for i in range(5)]
    world.runner.run_pending()
    with env.store.write() as conn:  # give them distinct severities and one archived
        for investigation_id, severity in zip(ids, ("LOW", "CRITICAL", "INFORMATIONAL", "HIGH", "MEDIUM"), strict=True):
            conn.execute(update(investigations).where(investigations.c.investigation_id == investigation_id)
                         .values(severity=severity))
    env.call(inv.update_investigation_state, ADMIN, {"GraphArn": world.arn, "InvestigationId": ids[0], "State": "ARCHIVED"})
    running = world.start(user(name="late"))

    newest_first = [d["InvestigationId"] for d in _list(env, world)["InvestigationDetails"]]
    assert newest_first == [running, *reversed(ids)]
    by_severity = _list(env, world, SortCriteria={"Field": "SEVERITY", "SortOrder": "DESC"})["InvestigationDetails"]
    assert [d.get("Severity") for d in by_severity][:5] == ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"]
    assert [d["InvestigationId"] for d in _list(env, world, FilterCriteria={"Severity": {"Value": "HIGH"}})[
        "InvestigationDetails"]] == [ids[3]]
    assert [d["InvestigationId"] for d in _list(env, world, FilterCriteria={"State": {"Value": "ARCHIVED"}})[
        "InvestigationDetails"]] == [ids[0]]
    assert [d["InvestigationId"] for d in _list(env, world, FilterCriteria={"Status": {"Value": "RUNNING"}})[
        "InvestigationDetails"]] == [running]
    assert [d["InvestigationId"] for d in _list(env, world, FilterCriteria={"EntityArn": {"Value": user(name="u2")}})[
        "InvestigationDetails"]] == [ids[2]]
    window = {"StartInclusive": dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "EndInclusive": dt.datetime(2001, 1, 1, tzinfo=dt.UTC)}
    assert _list(env, world, FilterCriteria={"CreatedTime": window})["InvestigationDetails"] == []
    with pytest.raises(ValidationException):
        _list(env, world, FilterCriteria={"Severity": {"Value": "SEVERE"}})

    pages, token = [], None
    while True:
        out = _list(env, world, MaxResults=2, **({"NextToken": token} if token else {}))
        pages.append([d["InvestigationId"] for d in out["InvestigationDetails"]])
        token = out.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 2] and [i for p in pages for i in p] == newest_first
    first = _list(env, world, MaxResults=2)
    with pytest.raises(ValidationException):  # a token of one query is refused by another
        _list(env, world, MaxResults=2, NextToken=first["NextToken"], SortCriteria={"Field": "SEVERITY"})


def test_list_indicators_pages_and_filters(env: Env, world: Any) -> None:
    investigation_id = world.start()
    world.runner.run_pending()
    from gumshoe.store.schema import investigation_indicators
    with env.store.write() as conn:
        conn.execute(investigation_indicators.insert(), [
            {"investigation_id": investigation_id, "seq": i, "indicator_type": kind,
             "detail": orjson.dumps({"NewUserAgentDetail": {"UserAgent": f"ua-{i}", "IsNewForEntireAccount": False}}
                                    if kind == "NEW_USER_AGENT" else
                                    {"FlaggedIpAddressDetail": {"IpAddress": f"192.0.2.{i}", "Reason": "AWS_THREAT_INTELLIGENCE"}}
                                    ).decode(),
             "evidence": "{}"}
            for i, kind in enumerate(["FLAGGED_IP_ADDRESS"] * 3 + ["NEW_USER_AGENT"] * 4)
        ])
    seen, token = [], None
    while True:
        out = env.call(inv.list_indicators, ADMIN, {"GraphArn": world.arn, "InvestigationId": investigation_id,
                                                    "MaxResults": 3, **({"NextToken": token} if token else {})})
        assert out["GraphArn"] == world.arn and out["InvestigationId"] == investigation_id
        for indicator in out["Indicators"]:
            assert len(indicator["IndicatorDetail"]) == 1  # exactly one detail member
            seen.append(indicator["IndicatorType"])
        token = out.get("NextToken")
        if not token:
            break
    assert seen == ["FLAGGED_IP_ADDRESS"] * 3 + ["NEW_USER_AGENT"] * 4
    only = env.call(inv.list_indicators, ADMIN, {"GraphArn": world.arn, "InvestigationId": investigation_id,
                                                 "IndicatorType": "NEW_USER_AGENT"})
    assert [i["IndicatorDetail"]["NewUserAgentDetail"]["UserAgent"] for i in only["Indicators"]] == [
        "ua-3", "ua-4", "ua-5", "ua-6"]


def test_interrupted_runs_resume_then_fail_with_a_reason(env: Env, world: Any) -> None:
    investigation_id = world.start()
    # A server killed mid-run leaves the row RUNNING with its attempt counted: the next start resumes it.
    with env.store.write() as conn:
        conn.execute(update(investigations).values(attempts=1))
    world.runner.run_pending()
    assert world.get(investigation_id)["Status"] == "SUCCESSFUL"
    again = world.start(user(name="carol"))
    with env.store.write() as conn:
        conn.execute(update(investigations).where(investigations.c.investigation_id == again)
                     .values(attempts=MAX_ATTEMPTS))
    world.runner.run_pending()
    assert world.get(again)["Status"] == "FAILED"
    with env.store.read() as conn:
        reason = conn.execute(select(investigations.c.reason).where(investigations.c.investigation_id == again)).scalar()
    assert "interrupted" in reason


def test_a_failing_analysis_is_failed_with_its_error(env: Env, world: Any) -> None:
    investigation_id = world.start()

    class Broken(Investigator):
        def investigate(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("disk on fire")

    world.runner.investigator = Broken(None, TtpMap.load(), ThreatIntel(()))
    world.runner.run_pending()
    assert world.get(investigation_id)["Status"] == "FAILED"
    assert inv.investigation_report(env.store, world.arn, investigation_id)["reason"].endswith("disk on fire")


def test_delete_graph_removes_its_investigations(env: Env, world: Any) -> None:
    from gumshoe.api import graphs as graphs_api
    world.start()
    env.call(graphs_api.delete_graph, ADMIN, {"GraphArn": world.arn})
    with env.store.read() as conn:
        assert conn.execute(select(investigations)).first() is None
    assert world.runner.run_pending() == 0


def test_the_runner_geolocates_loaded_addresses_between_investigations(env: Env, world: Any, tmp_path: Path) -> None:
    from mmdb_writer import build_geo_dbs

    from gumshoe.investigate.geo import GeoIP

    (tmp_path / "geo").mkdir()
    city, asn = build_geo_dbs(tmp_path / "geo", {"198.51.100.0/24": ("Seattle", "United States", "US", 47.6, -122.3,
                                                                     64500, "HomeNet")})
    geo = GeoIP(city, asn)
    runner = InvestigationRunner(env.store, world.stores, Investigator(geo, TtpMap.load(), ThreatIntel(())))
    assert runner.locating is True
    store = world.stores.get(world.arn)
    with store.cursor() as conn:
        conn.execute("INSERT INTO api_events (time_ms, source_ip) VALUES (1, '198.51.100.7'), (2, '203.0.113.9'), "
                     "(3, 'ec2.amazonaws.com')")
    while runner.locate_step():
        pass
    assert runner.locating is False
    with store.cursor() as conn:
        rows = sorted(conn.execute("SELECT ip, location, aso FROM ip_geo").fetchall())
    assert rows == [("198.51.100.7", "Seattle, United States", "HomeNet"), ("203.0.113.9", "", ""),
                    ("ec2.amazonaws.com", "", "")]
    assert runner.locate_step() is False  # nothing new: no scan of the addresses again
    geo.close()
