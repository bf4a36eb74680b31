"""The member account's side: ListInvitations, AcceptInvitation, RejectInvitation,
DisassociateMembership."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_helpers import expect_error, invitation_arns, invite, member_ids, module_server, status_of

CONFIG = """
[[accounts]]
id = "400000000101"
email = "alice@example.com"

[[accounts]]
id = "400000000102"
email = "bob@example.com"

[[accounts]]
id = "400000000103"
email = "carol@example.com"
"""

ALICE = ("400000000101", "alice@example.com")
BOB = ("400000000102", "bob@example.com")
CAROL = ("400000000103", "carol@example.com")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, CONFIG, name="invitations") as server:
        yield server


def test_list_invitations_shows_only_graphs_the_caller_was_invited_to(srv: Any) -> None:
    admins = [srv.client(f"40000000000{i}") for i in range(1, 5)]
    arns = [a.create_graph()["GraphArn"] for a in admins]
    alice = srv.client(ALICE[0])
    own = alice.create_graph()["GraphArn"]  # Alice administers a graph of her own too.

    invite(admins[0], arns[0], ALICE)  # stays INVITED
    invite(admins[1], arns[1], ALICE)  # accepted
    invite(admins[2], arns[2], (ALICE[0], "wrong@example.com"))  # fails verification
    invite(admins[3], arns[3], BOB)  # someone else
    alice.accept_invitation(GraphArn=arns[1])

    invitations = alice.list_invitations()["Invitations"]
    got = {i["GraphArn"]: i["Status"] for i in invitations}
    assert got == {arns[0]: "INVITED", arns[1]: "ENABLED"}
    assert own not in got
    for inv in invitations:
        assert inv["AccountId"] == ALICE[0]
        assert inv["AdministratorId"] == inv["MasterId"] == inv["GraphArn"].split(":")[4]
        assert inv["InvitationType"] == "INVITATION"
    assert invitation_arns(srv.client(BOB[0])) == [arns[3]]
    # An administrator is not invited to its own graph.
    for admin in admins:
        assert invitation_arns(admin) == []


def test_reject_invitation_removes_it_from_both_lists(srv: Any) -> None:
    admin = srv.client("400000000010")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, BOB, CAROL)
    bob = srv.client(BOB[0])
    bob.reject_invitation(GraphArn=arn)
    assert arn not in invitation_arns(bob)
    assert BOB[0] not in member_ids(admin, arn)
    assert CAROL[0] in member_ids(admin, arn)
    got = admin.get_members(GraphArn=arn, AccountIds=[BOB[0]])
    assert got["MemberDetails"] == [] and [u["AccountId"] for u in got["UnprocessedAccounts"]] == [BOB[0]]
    # Rejected: nothing left to accept or reject.
    expect_error("ResourceNotFoundException", 404, bob.accept_invitation, GraphArn=arn)
    expect_error("ResourceNotFoundException", 404, bob.reject_invitation, GraphArn=arn)
    # The administrator may invite again.
    invite(admin, arn, BOB)
    assert status_of(admin, arn, BOB[0]) == "INVITED"
    assert arn in invitation_arns(bob)


def test_reject_needs_invited_status(srv: Any) -> None:
    admin = srv.client("400000000011")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, CAROL)
    carol = srv.client(CAROL[0])
    carol.accept_invitation(GraphArn=arn)
    expect_error("ConflictException", 409, carol.reject_invitation, GraphArn=arn)
    assert status_of(admin, arn, CAROL[0]) == "ENABLED"


def test_disassociate_membership_only_when_enabled(srv: Any) -> None:
    admin = srv.client("400000000012")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, ALICE, BOB)
    alice = srv.client(ALICE[0])
    bob = srv.client(BOB[0])

    # INVITED: must accept (or reject) first.
    expect_error("ConflictException", 409, alice.disassociate_membership, GraphArn=arn)
    assert status_of(admin, arn, ALICE[0]) == "INVITED"

    alice.accept_invitation(GraphArn=arn)
    assert status_of(admin, arn, ALICE[0]) == "ENABLED"
    alice.disassociate_membership(GraphArn=arn)
    assert ALICE[0] not in member_ids(admin, arn)
    assert arn not in invitation_arns(alice)
    assert BOB[0] in member_ids(admin, arn)
    assert arn in invitation_arns(bob)
    # Gone: a second call finds nothing.
    expect_error("ResourceNotFoundException", 404, alice.disassociate_membership, GraphArn=arn)
    expect_error("ResourceNotFoundException", 404, alice.accept_invitation, GraphArn=arn)


def test_outsiders_and_the_administrator_have_no_membership(srv: Any) -> None:
    admin = srv.client("400000000013")
    arn = admin.create_graph()["GraphArn"]
    stranger = srv.client("400000000099")
    for client in (admin, stranger):
        expect_error("ResourceNotFoundException", 404, client.accept_invitation, GraphArn=arn)
        expect_error("ResourceNotFoundException", 404, client.reject_invitation, GraphArn=arn)
        expect_error("ResourceNotFoundException", 404, client.disassociate_membership, GraphArn=arn)
    # The administrator is still the administrator of an intact graph.
    assert member_ids(admin, arn) == ["400000000013"]
    ghost = "arn:aws:detective:us-east-1:400000000013:graph:" + "f" * 32
    expect_error("ResourceNotFoundException", 404, stranger.accept_invitation, GraphArn=ghost)


def test_member_of_several_graphs_acts_on_each_separately(srv: Any) -> None:
    admins = [srv.client(f"40000000002{i}") for i in range(3)]
    arns = [a.create_graph()["GraphArn"] for a in admins]
    for a, arn in zip(admins, arns, strict=True):
        invite(a, arn, CAROL)
    carol = srv.client(CAROL[0])
    assert set(arns) <= set(invitation_arns(carol))
    carol.accept_invitation(GraphArn=arns[0])
    carol.reject_invitation(GraphArn=arns[1])
    assert status_of(admins[0], arns[0], CAROL[0]) == "ENABLED"
    assert CAROL[0] not in member_ids(admins[1], arns[1])
    assert status_of(admins[2], arns[2], CAROL[0]) == "INVITED"
    mine = {i["GraphArn"]: i["Status"] for i in carol.list_invitations()["Invitations"] if i["GraphArn"] in arns}
    assert mine == {arns[0]: "ENABLED", arns[2]: "INVITED"}
