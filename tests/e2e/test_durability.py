"""Durability and concurrency against a real server process.

- kill -9 under load: every write the server acknowledged is there after a restart;
- concurrent AcceptInvitation / RejectInvitation on one member: one winner, one state, no 500;
- a durable job (verification, volume check) pending at kill -9 still runs after the restart.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import botocore.exceptions
from e2e_helpers import member as member_detail
from e2e_helpers import wait_for

WRITERS = 8
BATCH = 10
MAX_MEMBERS_PER_WRITER = 600  # well under the 1,200-member quota of a graph


def email(account_id: str) -> str:
    return f"root+{account_id}@example.com"


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def http_status(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


# --- (a) kill -9 under load -----------------------------------------------------------------------


def test_acknowledged_writes_survive_kill_9_under_load(make_server):
    server = make_server()
    admins = [f"7100000000{i:02d}" for i in range(WRITERS)]
    clients = {a: server.client(a) for a in admins}  # created up front: client creation is not thread-safe
    acked_graphs: dict[str, str] = {}
    acked_members: dict[str, set[str]] = defaultdict(set)
    server_errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS + 1)

    def writer(t: int, admin: str) -> None:
        client = clients[admin]
        start.wait()
        try:
            arn = client.create_graph()["GraphArn"]
        except botocore.exceptions.ClientError as exc:
            server_errors.append(f"CreateGraph {admin}: {error_code(exc)}")
            return
        except Exception:  # the server went away
            return
        with lock:
            acked_graphs[admin] = arn
        n = 0
        while n < MAX_MEMBERS_PER_WRITER:
            batch = [f"8{t:02d}{n + k:09d}" for k in range(BATCH)]
            n += BATCH
            try:
                out = client.create_members(
                    GraphArn=arn, Accounts=[{"AccountId": a, "EmailAddress": email(a)} for a in batch]
                )
            except botocore.exceptions.ClientError as exc:
                if http_status(exc) >= 500:
                    server_errors.append(f"CreateMembers {admin}: {error_code(exc)}")
                return
            except Exception:  # connection refused or reset: the server was killed
                return
            with lock:
                acked_members[admin].update(m["AccountId"] for m in out["Members"])

    threads = [threading.Thread(target=writer, args=(t, a), daemon=True) for t, a in enumerate(admins)]
    for th in threads:
        th.start()
    start.wait()
    # Kill while the writers are busy: once a good part of the work is acknowledged.
    wait_for(lambda: sum(len(v) for v in acked_members.values()) >= 400, timeout=20, interval=0.01)
    server.kill()
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads)
    assert server_errors == []
    acked_total = sum(len(v) for v in acked_members.values())
    assert acked_graphs
    assert acked_total < WRITERS * MAX_MEMBERS_PER_WRITER, "the kill came after all the work: nothing was in flight"

    server.start()
    for admin, arn in acked_graphs.items():
        client = server.client(admin)
        assert [g["Arn"] for g in client.list_graphs()["GraphList"]] == [arn]
        wanted = sorted(acked_members[admin])
        found: dict[str, str] = {}
        for i in range(0, len(wanted), 50):
            out = client.get_members(GraphArn=arn, AccountIds=wanted[i : i + 50])
            found.update({m["AccountId"]: m["Status"] for m in out["MemberDetails"]})
        missing = [a for a in wanted if a not in found]
        assert missing == [], f"{len(missing)} acknowledged members of {admin} lost, e.g. {missing[:5]}"
        assert set(found.values()) <= {"VERIFICATION_IN_PROGRESS", "INVITED"}
        # Their verification jobs were not lost either.
        def all_invited(client: Any = client, arn: str = arn, wanted: list[str] = wanted) -> bool:
            for i in range(0, len(wanted), 50):
                out = client.get_members(GraphArn=arn, AccountIds=wanted[i : i + 50])
                if any(m["Status"] != "INVITED" for m in out["MemberDetails"]):
                    return False
            return True

        wait_for(all_invited, timeout=15, interval=0.2)


# --- (b) concurrency on one member --------------------------------------------------------------


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls from threads released together; each result is None (2xx) or the exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            calls[i]()
        except Exception as exc:  # recorded and asserted by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    return results


def _invite(admin_client: Any, arn: str, member: str) -> None:
    admin_client.create_members(GraphArn=arn, Accounts=[{"AccountId": member, "EmailAddress": email(member)}])
    wait_for(lambda: (member_detail(admin_client, arn, member) or {}).get("Status") == "INVITED", timeout=10)


def test_concurrent_accepts_of_one_invitation(make_server):
    server = make_server()
    admin = server.client("720000000001")
    arn = admin.create_graph()["GraphArn"]
    member_id = "720000000002"
    _invite(admin, arn, member_id)
    member = server.client(member_id, max_pool_connections=16)
    results = _race([lambda: member.accept_invitation(GraphArn=arn)] * 8)
    failures = [r for r in results if r is not None]
    assert results.count(None) == 1, results
    assert all(isinstance(r, botocore.exceptions.ClientError) for r in failures), failures
    assert sorted({error_code(r) for r in failures}) == ["ConflictException"]
    assert all(http_status(r) == 409 for r in failures)
    wait_for(lambda: (member_detail(admin, arn, member_id) or {}).get("Status") == "ENABLED", timeout=10)


def test_accept_and_reject_races_end_in_one_consistent_state(make_server):
    server = make_server()
    admin = server.client("730000000001")
    arn = admin.create_graph()["GraphArn"]
    outcomes = []
    for round_ in range(4):
        member_id = f"73000000010{round_}"
        _invite(admin, arn, member_id)
        member = server.client(member_id, max_pool_connections=16)
        kinds = ["accept", "reject"] * 4
        calls = [
            (lambda m=member: m.accept_invitation(GraphArn=arn)) if k == "accept"
            else (lambda m=member: m.reject_invitation(GraphArn=arn))
            for k in kinds
        ]
        results = _race(calls)
        winners = [kinds[i] for i, r in enumerate(results) if r is None]
        failures = [r for r in results if r is not None]
        assert len(winners) == 1, (winners, failures)
        assert all(isinstance(r, botocore.exceptions.ClientError) for r in failures), failures
        codes = {error_code(r) for r in failures}
        assert codes <= {"ConflictException", "ResourceNotFoundException"}, codes
        assert all(http_status(r) < 500 for r in failures)
        if winners == ["accept"]:
            wait_for(lambda m=member_id: (member_detail(admin, arn, m) or {}).get("Status") == "ENABLED", timeout=10)
            assert [i["GraphArn"] for i in member.list_invitations()["Invitations"]] == [arn]
        else:
            assert member_detail(admin, arn, member_id) is None
            assert member.list_invitations()["Invitations"] == []
        outcomes.append(winners[0])
    # Either way the state is one of the two; listing shows no half-states.
    listed = {m["AccountId"]: m["Status"] for m in admin.list_members(GraphArn=arn)["MemberDetails"]}
    for round_, winner in enumerate(outcomes):
        member_id = f"73000000010{round_}"
        assert listed.get(member_id) == ("ENABLED" if winner == "accept" else None)


# --- (c) a pending durable job survives kill -9 --------------------------------------------------


def test_pending_jobs_survive_kill_9(make_server):
    server = make_server(args=["--job-delay", "2"])
    admin_id, invited_id, accepted_id = "740000000001", "740000000002", "740000000003"
    admin = server.client(admin_id)
    arn = admin.create_graph()["GraphArn"]

    # One member that has accepted: its volume check is pending at the kill.
    admin.create_members(GraphArn=arn, Accounts=[{"AccountId": accepted_id, "EmailAddress": email(accepted_id)}])
    wait_for(lambda: (member_detail(admin, arn, accepted_id) or {}).get("Status") == "INVITED", timeout=10)
    server.client(accepted_id).accept_invitation(GraphArn=arn)
    assert member_detail(admin, arn, accepted_id)["Status"] == "ACCEPTED_BUT_DISABLED"

    # One member just created: its verification is pending at the kill.
    out = admin.create_members(GraphArn=arn, Accounts=[{"AccountId": invited_id, "EmailAddress": email(invited_id)}])
    assert [m["Status"] for m in out["Members"]] == ["VERIFICATION_IN_PROGRESS"]
    server.kill()

    server.start()
    admin = server.client(admin_id)
    wait_for(lambda: (member_detail(admin, arn, invited_id) or {}).get("Status") == "INVITED", timeout=15)
    wait_for(lambda: (member_detail(admin, arn, accepted_id) or {}).get("Status") == "ENABLED", timeout=15)
    invitations = server.client(invited_id).list_invitations()["Invitations"]
    assert [(i["GraphArn"], i["Status"]) for i in invitations] == [(arn, "INVITED")]
    # The invitation email was written once the verification ran.
    outbox = server.data_dir / "outbox"
    assert any(invited_id in p.name for p in outbox.glob("*.eml")), sorted(p.name for p in outbox.glob("*"))
