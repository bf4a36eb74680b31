"""The member account's side: ListInvitations, AcceptInvitation, RejectInvitation,
DisassociateMembership, and the compare-and-set on its status under concurrency."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from api_harness import ADMIN, OTHER_ADMIN, OTHER_REGION, REGION, account, org

from gumshoe.api import datasources, graphs, invitations, members, organization
from gumshoe.errors import ConflictException, ResourceNotFoundException

M1 = "222222222222"
M2 = "333333333333"
THIRD_ADMIN = "777777777777"


def invitation_graphs(env, member, region=REGION, **params):
    return [i["GraphArn"] for i in env.call(invitations.list_invitations, member, params, region=region)["Invitations"]]


# --- ListInvitations ------------------------------------------------------------------------


def test_list_invitations_shows_open_and_accepted_invitations(make_env):
    env = make_env(job_delay=30)
    open_, accepted, verifying = env.graph(ADMIN), env.graph(OTHER_ADMIN), env.graph(THIRD_ADMIN)
    env.invite(open_, ADMIN, M1)
    env.invite(accepted, OTHER_ADMIN, M1)
    env.run_jobs(all_pending=True)
    env.accept(accepted, M1)
    env.invite(verifying, THIRD_ADMIN, M1)  # verification still pending: no invitation yet
    out = env.call(invitations.list_invitations, M1)["Invitations"]
    by_graph = {i["GraphArn"]: i for i in out}
    assert set(by_graph) == {open_, accepted}
    assert by_graph[open_]["Status"] == "INVITED"
    assert by_graph[open_]["AdministratorId"] == ADMIN
    assert by_graph[open_]["AccountId"] == M1
    assert by_graph[open_]["InvitationType"] == "INVITATION"
    assert by_graph[accepted]["Status"] == "ACCEPTED_BUT_DISABLED"
    env.run_jobs(all_pending=True)
    statuses = {i["GraphArn"]: i["Status"] for i in env.call(invitations.list_invitations, M1)["Invitations"]}
    assert statuses == {open_: "INVITED", accepted: "ENABLED", verifying: "INVITED"}


def test_list_invitations_is_per_region_and_excludes_own_graph(env):
    here = env.graph(ADMIN)
    there = env.graph(ADMIN, region=OTHER_REGION)
    env.invite(here, ADMIN, M1)
    env.invite(there, ADMIN, M1, region=OTHER_REGION)
    assert invitation_graphs(env, M1) == [here]
    assert invitation_graphs(env, M1, region=OTHER_REGION) == [there]
    assert invitation_graphs(env, ADMIN) == []  # the administrator is no invitee of its own graph
    assert invitation_graphs(env, M2) == []


def test_list_invitations_pages(env):
    arns = {env.graph(admin) for admin in (ADMIN, OTHER_ADMIN, THIRD_ADMIN)}
    for arn in arns:
        env.invite(arn, arn.split(":")[4], M1)
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"MaxResults": 2}
        if token:
            params["NextToken"] = token
        out = env.call(invitations.list_invitations, M1, params)
        assert len(out["Invitations"]) <= 2
        seen += [i["GraphArn"] for i in out["Invitations"]]
        token = out.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(arns)


# --- AcceptInvitation -----------------------------------------------------------------------


def test_accept_moves_invited_to_enabled_through_accepted_but_disabled(make_env):
    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    env.run_jobs(all_pending=True)
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    env.accept(arn, M1)
    assert env.status(arn, ADMIN, M1)[0] == "ACCEPTED_BUT_DISABLED"
    env.run_jobs(all_pending=True)
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)


def test_accept_twice_is_a_conflict(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    env.accept(arn, M1)
    with pytest.raises(ConflictException):
        env.accept(arn, M1)
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)


def test_accept_needs_the_invited_status(make_env):
    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)  # VERIFICATION_IN_PROGRESS
    with pytest.raises((ConflictException, ResourceNotFoundException)):
        env.accept(arn, M1)
    assert env.status(arn, ADMIN, M1) == ("VERIFICATION_IN_PROGRESS", None)


@pytest.mark.parametrize("who", ["not-invited", "administrator", "other-region", "no-graph"])
def test_accept_without_an_invitation_is_not_found(env, who):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    caller, region, target = {
        "not-invited": (M2, REGION, arn),
        "administrator": (ADMIN, REGION, arn),
        "other-region": (M1, OTHER_REGION, arn),
        "no-graph": (M1, REGION, arn[:-32] + "0" * 32),
    }[who]
    with pytest.raises(ResourceNotFoundException):
        env.call(invitations.accept_invitation, caller, {"GraphArn": target}, region=region)
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)


def test_accept_after_the_graph_is_deleted_is_not_found(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    env.call(graphs.delete_graph, ADMIN, {"GraphArn": arn})
    assert invitation_graphs(env, M1) == []
    with pytest.raises(ResourceNotFoundException):
        env.accept(arn, M1)


# --- RejectInvitation -----------------------------------------------------------------------


def test_reject_removes_the_invitation(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    env.call(invitations.reject_invitation, M1, {"GraphArn": arn})
    assert env.member(arn, ADMIN, M1) is None
    assert invitation_graphs(env, M1) == []
    with pytest.raises(ResourceNotFoundException):
        env.call(invitations.reject_invitation, M1, {"GraphArn": arn})
    # The administrator can invite the account again.
    env.invite(arn, ADMIN, M1)
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)


def test_reject_an_accepted_invitation_is_a_conflict(env):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    with pytest.raises(ConflictException):
        env.call(invitations.reject_invitation, M1, {"GraphArn": arn})
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)


def test_reject_without_an_invitation_is_not_found(env):
    arn = env.graph(ADMIN)
    with pytest.raises(ResourceNotFoundException):
        env.call(invitations.reject_invitation, M1, {"GraphArn": arn})
    with pytest.raises(ResourceNotFoundException):
        env.call(invitations.reject_invitation, ADMIN, {"GraphArn": arn})


# --- DisassociateMembership -----------------------------------------------------------------


def test_disassociate_an_enabled_membership(env):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    env.call(invitations.disassociate_membership, M1, {"GraphArn": arn})
    assert env.member(arn, ADMIN, M1) is None
    assert invitation_graphs(env, M1) == []
    out = env.call(datasources.batch_get_graph_member_datasources, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
    assert out["MemberDatasources"] == []
    with pytest.raises(ResourceNotFoundException):
        env.call(invitations.disassociate_membership, M1, {"GraphArn": arn})


def test_disassociate_needs_the_enabled_status(make_env):
    env = make_env(accounts=(account(M2, guardduty=False),))
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    with pytest.raises(ConflictException):
        env.call(invitations.disassociate_membership, M1, {"GraphArn": arn})
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    env.join(arn, ADMIN, M2)
    with pytest.raises(ConflictException):
        env.call(invitations.disassociate_membership, M2, {"GraphArn": arn})
    assert env.status(arn, ADMIN, M2) == ("ACCEPTED_BUT_DISABLED", "VOLUME_UNKNOWN")


def test_disassociate_is_not_for_the_administrator_or_strangers(env):
    arn = env.graph(ADMIN)
    with pytest.raises(ResourceNotFoundException):
        env.call(invitations.disassociate_membership, ADMIN, {"GraphArn": arn})
    with pytest.raises(ResourceNotFoundException):
        env.call(invitations.disassociate_membership, M1, {"GraphArn": arn})
    assert [g["Arn"] for g in env.call(graphs.list_graphs, ADMIN)["GraphList"]] == [arn]


def test_an_organization_account_cannot_disassociate(make_env):
    management, delegate = "100000000000", "200000000000"
    env = make_env(organization=org(management, delegate, M1))
    env.call(organization.enable_organization_admin_account, management, {"AccountId": delegate})
    arn = env.graph(delegate)
    env.call(members.create_members, delegate, {"GraphArn": arn, "Accounts": [{"AccountId": M1}]})
    assert env.status(arn, delegate, M1) == ("ENABLED", None)
    with pytest.raises(ConflictException):
        env.call(invitations.disassociate_membership, M1, {"GraphArn": arn})
    assert env.status(arn, delegate, M1) == ("ENABLED", None)


# --- Concurrency: one winner, one consistent state ---------------------------------------------


def _race(env, calls: list[tuple[Any, str]], arn: str) -> list[Any]:
    """Run the calls from threads released together; each result is None or the exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, fn: Any, member: str) -> None:
        ctx = env.ctx(member)
        barrier.wait()
        try:
            fn(ctx, {"GraphArn": arn})
        except Exception as exc:  # recorded, asserted below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn, m)) for i, (fn, m) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_accepts_have_exactly_one_winner(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    results = _race(env, [(invitations.accept_invitation, M1)] * 8, arn)
    assert results.count(None) == 1
    assert all(isinstance(r, ConflictException) for r in results if r is not None)
    env.run_jobs()
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)


def test_accept_and_reject_race_ends_in_one_state(env):
    arn = env.graph(ADMIN)
    for _round in range(5):
        env.invite(arn, ADMIN, M1)
        calls = [(invitations.accept_invitation, M1), (invitations.reject_invitation, M1)] * 4
        results = _race(env, calls, arn)
        winners = [i for i, r in enumerate(results) if r is None]
        assert len(winners) == 1, results
        assert all(isinstance(r, (ConflictException, ResourceNotFoundException)) for r in results if r is not None)
        env.run_jobs()
        state = env.status(arn, ADMIN, M1)
        if calls[winners[0]][0] is invitations.accept_invitation:
            assert state == ("ENABLED", None)
            env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
        else:
            assert state is None
            assert invitation_graphs(env, M1) == []


# --- Compare-and-set: a decision made on a stale read must not win ----------------------------
# On a database with concurrent writers the row read first may be outdated by the time of the
# write; the conditional UPDATE/DELETE (WHERE status = ...) is what keeps the state consistent.
# These tests hand the operation a stale row and check that the store's real state wins.


def _stale_membership(monkeypatch, status: str) -> None:
    real = invitations.membership

    def stale(*args: Any, **kwargs: Any) -> Any:
        row = real(*args, **kwargs)
        return SimpleNamespace(**{**row._asdict(), "status": status})

    monkeypatch.setattr(invitations, "membership", stale)


def test_accept_on_a_stale_read_is_a_conflict(env, monkeypatch):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)
    _stale_membership(monkeypatch, "INVITED")
    with pytest.raises(ConflictException):
        env.accept(arn, M1)
    monkeypatch.undo()
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)
    assert env.runner.pending() == 0  # no volume check enqueued for a refused accept


def test_reject_on_a_stale_read_is_a_conflict(env, monkeypatch):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    _stale_membership(monkeypatch, "INVITED")
    with pytest.raises(ConflictException):
        env.call(invitations.reject_invitation, M1, {"GraphArn": arn})
    monkeypatch.undo()
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)


def test_disassociate_on_a_stale_read_is_a_conflict(env, monkeypatch):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    _stale_membership(monkeypatch, "ENABLED")
    with pytest.raises(ConflictException):
        env.call(invitations.disassociate_membership, M1, {"GraphArn": arn})
    monkeypatch.undo()
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
