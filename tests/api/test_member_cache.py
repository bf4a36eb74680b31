"""ListMembers and GetMembers answered from cached MemberDetail JSON (api/_member_cache.py):
the same answer as building it from the rows, and never stale after any kind of change,
including one written by another connection (the data plane, another process)."""

from __future__ import annotations

import sqlite3

import orjson
import pytest
from api_harness import ADMIN, REGION

from gumshoe.api import datasources, graphs, invitations, members
from gumshoe.api._member_cache import MemberDetailCache
from gumshoe.protocol.model import service_model
from gumshoe.protocol.parser import OperationCodec

ACCOUNTS = [str(200000000000 + i) for i in range(12)]
# mixed_graph's members in invitation order: ACCOUNTS[4] rejected its invitation and left.
LISTED = [ADMIN, *ACCOUNTS[:4], *ACCOUNTS[5:8]]


def wire(env, fn, op, params, *, cache: bool, monkeypatch):
    """The response body ListMembers/GetMembers puts on the wire, with or without the cache."""
    ctx = env.ctx(ADMIN, REGION)
    if not cache:
        monkeypatch.setattr(MemberDetailCache, "revision", staticmethod(lambda snap, arn: None))
    try:
        result = fn(ctx, dict(params))
    finally:
        monkeypatch.undo()
    body = result if isinstance(result, bytes) else OperationCodec(service_model().operation_model(op)).serialize(result)
    return orjson.loads(body)


def mixed_graph(env):
    """Members in several states, with volume and package states, some without email."""
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, *ACCOUNTS[:8])
    for account in ACCOUNTS[:4]:
        env.accept(arn, account)
    env.call(invitations.reject_invitation, ACCOUNTS[4], {"GraphArn": arn})
    env.add_volume(arn, ACCOUNTS[0], "DETECTIVE_CORE", "2026-11-19", 1_000, 1_700_000_000_123)
    env.add_volume(arn, ACCOUNTS[0], "DETECTIVE_CORE", "2026-11-20", 2_500, 1_700_000_100_456)
    env.add_volume(arn, ACCOUNTS[0], "EKS_AUDIT", "2026-11-20", 700, 1_700_000_100_999)
    env.add_volume(arn, ACCOUNTS[1], "DETECTIVE_CORE", "2026-11-20", 10, 1_700_000_200_000)
    env.call(datasources.update_datasource_packages, ADMIN,
             {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING"]})
    return arn


def test_cached_list_members_pages_match_the_rows_exactly(make_env, monkeypatch):
    env = make_env(job_delay=0)
    arn = mixed_graph(env)
    for size in (1, 3, 200):
        pages = {True: [], False: []}
        for cache in (True, False):
            params = {"GraphArn": arn, "MaxResults": size}
            while True:
                out = wire(env, members.list_members, "ListMembers", params, cache=cache, monkeypatch=monkeypatch)
                pages[cache].append(out["MemberDetails"])
                if "NextToken" not in out:
                    break
                params["NextToken"] = out["NextToken"]
        assert pages[True] == pages[False]
        listed = [m for page in pages[True] for m in page]
        assert [m["AccountId"] for m in listed] == LISTED
    first = next(m for m in listed if m["AccountId"] == ACCOUNTS[0])
    assert first["VolumeUsageInBytes"] == 3_200
    assert first["VolumeUsageUpdatedTime"].endswith("Z")


def test_a_token_of_one_path_continues_on_the_other(make_env, monkeypatch):
    env = make_env(job_delay=0)
    arn = mixed_graph(env)
    cached = wire(env, members.list_members, "ListMembers", {"GraphArn": arn, "MaxResults": 4}, cache=True, monkeypatch=monkeypatch)
    rest = wire(env, members.list_members, "ListMembers",
                {"GraphArn": arn, "MaxResults": 200, "NextToken": cached["NextToken"]}, cache=False, monkeypatch=monkeypatch)
    assert [m["AccountId"] for m in cached["MemberDetails"] + rest["MemberDetails"]] == LISTED


def test_cached_get_members_matches_the_rows_in_request_order(make_env, monkeypatch):
    env = make_env(job_delay=0)
    arn = mixed_graph(env)
    ids = [ACCOUNTS[3], "999999999999", ACCOUNTS[0], ACCOUNTS[3], ADMIN, ACCOUNTS[11]]
    params = {"GraphArn": arn, "AccountIds": ids}
    cached = wire(env, members.get_members, "GetMembers", params, cache=True, monkeypatch=monkeypatch)
    plain = wire(env, members.get_members, "GetMembers", params, cache=False, monkeypatch=monkeypatch)
    assert cached == plain
    assert [m["AccountId"] for m in cached["MemberDetails"]] == [ACCOUNTS[3], ACCOUNTS[0], ADMIN]
    assert [u["AccountId"] for u in cached["UnprocessedAccounts"]] == ["999999999999", ACCOUNTS[11]]


def status_of(env, arn, account):
    return {m["AccountId"]: m for m in env.call(members.list_members, ADMIN, {"GraphArn": arn})["MemberDetails"]}.get(account)


def test_every_kind_of_change_is_seen_by_the_next_read(make_env):
    env = make_env(job_delay=0)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, ACCOUNTS[0], ACCOUNTS[1])
    assert status_of(env, arn, ACCOUNTS[0])["Status"] == "INVITED"
    env.accept(arn, ACCOUNTS[0])  # member row update
    assert status_of(env, arn, ACCOUNTS[0])["Status"] == "ENABLED"
    env.add_volume(arn, ACCOUNTS[0], "DETECTIVE_CORE", "2026-11-20", 42, 1_700_000_000_000)  # volume insert
    assert status_of(env, arn, ACCOUNTS[0])["VolumeUsageInBytes"] == 42
    env.call(datasources.update_datasource_packages, ADMIN,
             {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING"]})  # ingest states
    assert status_of(env, arn, ACCOUNTS[0])["DatasourcePackageIngestStates"]["ASFF_SECURITYHUB_FINDING"] == "STARTED"
    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [ACCOUNTS[1]]})  # member delete
    assert status_of(env, arn, ACCOUNTS[1]) is None


def test_a_write_from_another_connection_is_seen(make_env):
    """What the data plane or a second process does: plain SQL on the same database file."""
    env = make_env(job_delay=0)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, ACCOUNTS[0])
    env.accept(arn, ACCOUNTS[0])
    assert "VolumeUsageInBytes" not in status_of(env, arn, ACCOUNTS[0])
    other = sqlite3.connect(env.url.removeprefix("sqlite:///"))
    with other:
        other.execute(
            "INSERT INTO volume_usage (graph_arn, account_id, package, day, bytes, updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (arn, ACCOUNTS[0], "DETECTIVE_CORE", "2026-11-20", 1234, 1_700_000_000_000),
        )
    assert status_of(env, arn, ACCOUNTS[0])["VolumeUsageInBytes"] == 1234
    with other:
        other.execute("UPDATE volume_usage SET bytes = 99 WHERE graph_arn = ?", (arn,))
    assert status_of(env, arn, ACCOUNTS[0])["VolumeUsageInBytes"] == 99
    with other:
        other.execute("UPDATE members SET status = 'ACCEPTED_BUT_DISABLED' WHERE account_id = ?", (ACCOUNTS[0],))
    assert status_of(env, arn, ACCOUNTS[0])["Status"] == "ACCEPTED_BUT_DISABLED"
    other.close()


def test_deleting_a_graph_drops_its_revision_and_cache(make_env):
    env = make_env(job_delay=0)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, ACCOUNTS[0])
    status_of(env, arn, ACCOUNTS[0])
    env.call(graphs.delete_graph, ADMIN, {"GraphArn": arn})
    with env.store.snapshot() as snap:
        assert MemberDetailCache.revision(snap, arn) is None
    assert env.services.member_cache._entries.get(arn) is None


@pytest.mark.parametrize("max_graphs", [2])
def test_the_cache_keeps_only_the_most_recent_graphs(make_env, max_graphs):
    env = make_env(job_delay=0)
    env.services.member_cache = MemberDetailCache(max_graphs=max_graphs)
    arns = [env.graph(admin) for admin in ("111111111111", "121212121212", "131313131313")]
    for admin, arn in zip(("111111111111", "121212121212", "131313131313"), arns, strict=True):
        env.call(members.list_members, admin, {"GraphArn": arn})
    assert list(env.services.member_cache._entries) == arns[1:]
