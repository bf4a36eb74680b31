"""CreateMembers, GetMembers, ListMembers, DeleteMembers, StartMonitoringMember, the
background steps of the membership state machine, volume verdicts and MemberDetail."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from api_harness import ADMIN, OTHER_ADMIN, OTHER_REGION, REGION, account, email_of
from sqlalchemy import insert

from gumshoe.api import invitations, members
from gumshoe.clock import now_ms
from gumshoe.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from gumshoe.jobs import enqueue
from gumshoe.store.schema import members as members_table

M1 = "222222222222"
M2 = "555555555555"
M3 = "333333333333"
M4 = "444444444444"


def listed(env, arn, admin=ADMIN, region=REGION):
    return {m["AccountId"]: m for m in env.call(members.list_members, admin, {"GraphArn": arn}, region=region)["MemberDetails"]}


# --- CreateMembers and verification -------------------------------------------------------


def test_create_members_starts_verification_and_a_durable_job_invites(make_env):
    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    out = env.invite(arn, ADMIN, M1, Message="Join us")
    assert out["UnprocessedAccounts"] == []
    [m] = out["Members"]
    assert m["AccountId"] == M1 and m["EmailAddress"] == email_of(M1) and m["GraphArn"] == arn
    assert m["AdministratorId"] == ADMIN and m["MasterId"] == ADMIN
    assert m["Status"] == "VERIFICATION_IN_PROGRESS"
    assert m["InvitationType"] == "INVITATION"
    # Not due yet: nothing happens, nobody is mailed.
    assert env.run_jobs() == 0
    assert env.status(arn, ADMIN, M1) == ("VERIFICATION_IN_PROGRESS", None)
    assert env.mailer.sent == []
    assert env.run_jobs(all_pending=True) == 1
    detail = env.member(arn, ADMIN, M1)
    assert detail["Status"] == "INVITED"
    assert detail["InvitedTime"] is not None
    assert detail["UpdatedTime"] >= m["UpdatedTime"]
    assert len(env.mailer.sent) == 1
    sent = env.mailer.sent[0]
    assert sent["to_address"] == email_of(M1)
    assert sent["member_account_id"] == M1
    assert sent["administrator_account_id"] == ADMIN
    assert sent["graph_arn"] == arn
    assert sent["message"] == "Join us"


def test_create_members_with_no_delay_invites_at_once(env):
    arn = env.graph(ADMIN)
    out = env.invite(arn, ADMIN, M1, M2)
    assert [m["AccountId"] for m in out["Members"]] == [M1, M2]
    assert [m["Status"] for m in out["Members"]] == ["VERIFICATION_IN_PROGRESS"] * 2
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    assert env.status(arn, ADMIN, M2) == ("INVITED", None)
    assert env.runner.pending() == 0


def test_disable_email_notification_sends_no_mail(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1, DisableEmailNotification=True)
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    assert env.mailer.sent == []


def test_verification_fails_when_the_email_is_not_the_accounts(make_env):
    env = make_env(accounts=(account(M1, email="owner@example.com"), account(M2, email="Second@Example.com")))
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)  # root+222...@example.com: not the account's email
    env.call(members.create_members, ADMIN, {"GraphArn": arn, "Accounts": [{"AccountId": M2, "EmailAddress": " second@EXAMPLE.com"}]})
    assert env.status(arn, ADMIN, M1) == ("VERIFICATION_FAILED", None)
    assert env.status(arn, ADMIN, M2) == ("INVITED", None)  # case and surrounding space do not matter
    assert [s["member_account_id"] for s in env.mailer.sent] == [M2]
    # A failed account received nothing to accept.
    assert env.call(invitations.list_invitations, M1)["Invitations"] == []
    with pytest.raises((ConflictException, ResourceNotFoundException)):
        env.accept(arn, M1)
    assert env.status(arn, ADMIN, M1) == ("VERIFICATION_FAILED", None)


def test_strict_accounts_fails_verification_of_unknown_accounts(make_env):
    strict = make_env(strict_accounts=True, accounts=(account(M1),))
    arn = strict.graph(ADMIN)
    strict.invite(arn, ADMIN, M1, M2)
    assert strict.status(arn, ADMIN, M1) == ("INVITED", None)
    assert strict.status(arn, ADMIN, M2) == ("VERIFICATION_FAILED", None)

    lenient = make_env(accounts=(account(M1),))
    arn = lenient.graph(ADMIN)
    lenient.invite(arn, ADMIN, M2)
    assert lenient.status(arn, ADMIN, M2) == ("INVITED", None)


def test_create_members_requires_an_email_for_invited_accounts(env):
    arn = env.graph(ADMIN)
    with pytest.raises(ValidationException):
        env.call(members.create_members, ADMIN, {"GraphArn": arn, "Accounts": [
            {"AccountId": M1, "EmailAddress": email_of(M1)}, {"AccountId": M2}]})
    # All or nothing: the valid account was not added either.
    assert set(listed(env, arn)) == {ADMIN}


def test_create_members_unprocessed_accounts(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    out = env.invite(arn, ADMIN, ADMIN, M1, M2, M2)
    assert [m["AccountId"] for m in out["Members"]] == [M2]
    unprocessed = {u["AccountId"]: u["Reason"] for u in out["UnprocessedAccounts"]}
    assert set(unprocessed) == {ADMIN, M1, M2}
    assert all(reason for reason in unprocessed.values())
    assert len(out["UnprocessedAccounts"]) == 3
    # The existing member is untouched.
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    assert len([s for s in env.mailer.sent if s["member_account_id"] == M1]) == 1


def _fill(env, arn, count):
    ts = now_ms()
    with env.store.write() as conn:
        conn.execute(insert(members_table), [
            dict(graph_arn=arn, account_id=str(500000000000 + i), administrator_id=ADMIN, region=REGION,
                 email=f"m{i}@example.com", status="INVITED", disabled_reason=None, invitation_type="INVITATION",
                 invited_ms=ts, updated_ms=ts, seq=i + 1, email_notification=False)
            for i in range(count)
        ])


def test_member_quota_of_1200_accounts(env):
    arn = env.graph(ADMIN)
    _fill(env, arn, 1199)
    with pytest.raises(ServiceQuotaExceededException) as exc:
        env.invite(arn, ADMIN, M1, M2)
    assert exc.value.members.get("Resources") == [arn]
    assert env.member(arn, ADMIN, M1) is None and env.member(arn, ADMIN, M2) is None
    env.invite(arn, ADMIN, M1)  # the 1200th
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    with pytest.raises(ServiceQuotaExceededException):
        env.invite(arn, ADMIN, M2)
    # Accounts that are already members add nothing: not a quota error.
    out = env.invite(arn, ADMIN, M1)
    assert [u["AccountId"] for u in out["UnprocessedAccounts"]] == [M1]
    # Room after a deletion.
    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": ["500000000000"]})
    env.invite(arn, ADMIN, M2)
    assert env.status(arn, ADMIN, M2) == ("INVITED", None)


def test_invited_time_lies_between_the_request_and_the_verification(make_env, monkeypatch):
    from gumshoe import jobs as jobs_module

    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    requested = env.invite(arn, ADMIN, M1)["Members"][0]["UpdatedTime"]
    later = now_ms() + 120_000
    monkeypatch.setattr(jobs_module, "now_ms", lambda: later)
    assert env.run_jobs() == 1
    invited = env.member(arn, ADMIN, M1)["InvitedTime"]
    assert requested <= invited <= later / 1000


def test_no_new_members_while_the_graph_ingests_over_its_limit(make_env):
    """ServiceQuotaExceededException (model): the request cannot be completed if the current
    volume ingested is above the limit; Detective will not allow additional member accounts."""
    env = make_env(graph_volume_limit=100)
    arn = env.graph(ADMIN)
    env.add_volume(arn, ADMIN, "DETECTIVE_CORE", "2024-05-01", 150, now_ms())
    with pytest.raises(ServiceQuotaExceededException):
        env.invite(arn, ADMIN, M1)
    assert env.member(arn, ADMIN, M1) is None


# --- GetMembers, ListMembers ------------------------------------------------------------


def test_get_members_found_and_unprocessed(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1, M2)
    out = env.call(members.get_members, ADMIN, {"GraphArn": arn, "AccountIds": [M2, M3, M2, M1]})
    assert [m["AccountId"] for m in out["MemberDetails"]] == [M2, M1]
    assert [u["AccountId"] for u in out["UnprocessedAccounts"]] == [M3]
    assert out["UnprocessedAccounts"][0]["Reason"]


def test_list_members_pages_in_invitation_order(env):
    arn = env.graph(ADMIN)
    order = [M2, M4, M1, M3]
    for m in order:
        env.invite(arn, ADMIN, m)
    everything = [m["AccountId"] for m in env.call(members.list_members, ADMIN, {"GraphArn": arn})["MemberDetails"]]
    assert [a for a in everything if a != ADMIN] == order
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"GraphArn": arn, "MaxResults": 2}
        if token:
            params["NextToken"] = token
        out = env.call(members.list_members, ADMIN, params)
        assert len(out["MemberDetails"]) <= 2
        seen += [m["AccountId"] for m in out["MemberDetails"]]
        pages += 1
        token = out.get("NextToken")
        if not token:
            break
    assert seen == everything
    assert pages == (len(everything) + 1) // 2


def test_list_members_pages_stay_stable_while_members_change(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1, M2, M3)
    first = env.call(members.list_members, ADMIN, {"GraphArn": arn, "MaxResults": 2})
    page1 = [m["AccountId"] for m in first["MemberDetails"]]
    assert page1 == [ADMIN, M1]
    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
    env.invite(arn, ADMIN, M4)
    rest = env.call(members.list_members, ADMIN, {"GraphArn": arn, "MaxResults": 10, "NextToken": first["NextToken"]})
    assert [m["AccountId"] for m in rest["MemberDetails"]] == [M2, M3, M4]


def test_list_members_token_is_bound_to_caller_and_graph(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1, M2)
    token = env.call(members.list_members, ADMIN, {"GraphArn": arn, "MaxResults": 1})["NextToken"]
    other = env.graph(OTHER_ADMIN)
    with pytest.raises(ValidationException):
        env.call(members.list_members, OTHER_ADMIN, {"GraphArn": other, "NextToken": token})
    elsewhere = env.graph(ADMIN, region=OTHER_REGION)
    with pytest.raises(ValidationException):
        env.call(members.list_members, ADMIN, {"GraphArn": elsewhere, "NextToken": token}, region=OTHER_REGION)
    with pytest.raises(ValidationException):
        env.call(members.list_members, ADMIN, {"GraphArn": arn, "NextToken": token[:-2]})
    with pytest.raises(ValidationException):
        env.call(members.list_members, ADMIN, {"GraphArn": arn, "NextToken": "not-a-token"})
    # The genuine token still works.
    out = env.call(members.list_members, ADMIN, {"GraphArn": arn, "NextToken": token, "MaxResults": 5})
    assert [m["AccountId"] for m in out["MemberDetails"]] == [M1, M2]


# --- DeleteMembers ----------------------------------------------------------------------


def test_delete_members(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1, M2)
    out = env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1, M3, ADMIN, M1]})
    assert out["AccountIds"] == [M1]
    assert {u["AccountId"] for u in out["UnprocessedAccounts"]} == {M3, ADMIN}
    assert set(listed(env, arn)) == {ADMIN, M2}
    assert env.call(invitations.list_invitations, M1)["Invitations"] == []
    # A removed account can be invited again.
    env.invite(arn, ADMIN, M1)
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)


def test_delete_enabled_member_forgets_its_ingest_state(env):
    arn = env.graph(ADMIN)
    assert env.join(arn, ADMIN, M1)["Status"] == "ENABLED"
    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
    env.invite(arn, ADMIN, M1)
    detail = env.member(arn, ADMIN, M1)
    assert detail["Status"] == "INVITED"
    assert not detail.get("DatasourcePackageIngestStates")


# --- Volume verdicts ----------------------------------------------------------------------


def test_accepted_member_within_the_limit_is_enabled_and_ingests(make_env):
    env = make_env(accounts=(account(ADMIN, daily_volume=40), account(M1, daily_volume=60)), graph_volume_limit=100)
    arn = env.graph(ADMIN)
    detail = env.join(arn, ADMIN, M1)  # 40 + 60 = 100: at the limit, not over it
    assert (detail["Status"], detail.get("DisabledReason")) == ("ENABLED", None)
    assert detail["DatasourcePackageIngestStates"]["DETECTIVE_CORE"] == "STARTED"


def test_volume_unknown_when_the_member_is_not_in_guardduty(make_env):
    env = make_env(accounts=(account(M1, guardduty=False),))
    arn = env.graph(ADMIN)
    detail = env.join(arn, ADMIN, M1)
    assert (detail["Status"], detail["DisabledReason"]) == ("ACCEPTED_BUT_DISABLED", "VOLUME_UNKNOWN")
    assert detail.get("DatasourcePackageIngestStates", {}).get("DETECTIVE_CORE") != "STARTED"


def test_volume_too_high_counts_the_administrator_and_enabled_members(make_env):
    env = make_env(
        accounts=(account(ADMIN, daily_volume=30), account(M1, daily_volume=40), account(M2, daily_volume=31)),
        graph_volume_limit=100,
    )
    arn = env.graph(ADMIN)
    assert env.join(arn, ADMIN, M1)["Status"] == "ENABLED"  # 30 + 40
    detail = env.join(arn, ADMIN, M2)  # 30 + 40 + 31 > 100
    assert (detail["Status"], detail["DisabledReason"]) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")
    # Members not yet enabled do not count: a small one still fits.
    env.set_directory(accounts=(account(ADMIN, daily_volume=30), account(M1, daily_volume=40),
                                account(M2, daily_volume=31), account(M3, daily_volume=30)))
    assert env.join(arn, ADMIN, M3)["Status"] == "ENABLED"  # 30 + 40 + 30


def test_ingested_volume_replaces_the_estimate(make_env):
    env = make_env(accounts=(account(M1, daily_volume=10), account(M2, daily_volume=10)), graph_volume_limit=100)
    arn = env.graph(ADMIN)
    assert env.join(arn, ADMIN, M1)["Status"] == "ENABLED"
    env.add_volume(arn, M1, "DETECTIVE_CORE", "2024-05-01", 95, now_ms())
    detail = env.join(arn, ADMIN, M2)  # 95 (ingested, not the estimate of 10) + 10
    assert (detail["Status"], detail["DisabledReason"]) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")
    # The next day M1 ingests much less: only its latest day counts.
    env.add_volume(arn, M1, "DETECTIVE_CORE", "2024-05-02", 20, now_ms())
    assert env.status(arn, ADMIN, M2) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")  # until the pass runs
    assert members.monitoring_pass(env.services, now_ms()) == 1
    assert env.status(arn, ADMIN, M2) == ("ENABLED", None)


def test_monitoring_pass_enables_in_invitation_order_when_room_appears(make_env):
    env = make_env(
        accounts=(account(M1, daily_volume=60), account(M2, daily_volume=60), account(M3, daily_volume=50)),
        graph_volume_limit=100,
    )
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    env.invite(arn, ADMIN, M2)  # invited before M3 ...
    env.invite(arn, ADMIN, M3)
    env.accept(arn, M1)
    env.accept(arn, M3)  # ... but M3 accepts first
    env.accept(arn, M2)
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)
    assert env.status(arn, ADMIN, M2) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")
    assert env.status(arn, ADMIN, M3) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")
    # No room: the pass changes nothing.
    assert members.monitoring_pass(env.services, now_ms()) == 0
    assert env.status(arn, ADMIN, M2) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")

    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
    assert members.monitoring_pass(env.services, now_ms()) == 1
    # M2 was invited first: it takes the room (60); M3 (50) no longer fits.
    assert env.status(arn, ADMIN, M2) == ("ENABLED", None)
    assert env.status(arn, ADMIN, M3) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")
    assert env.member(arn, ADMIN, M2)["DatasourcePackageIngestStates"]["DETECTIVE_CORE"] == "STARTED"

    # M2 turns out to ingest 40 a day: now M3 fits.
    env.add_volume(arn, M2, "DETECTIVE_CORE", "2024-05-01", 40, now_ms())
    assert members.monitoring_pass(env.services, now_ms()) == 1
    assert env.status(arn, ADMIN, M3) == ("ENABLED", None)


def test_monitoring_pass_leaves_other_members_alone(make_env):
    env = make_env(accounts=(account(M1, guardduty=False),), graph_volume_limit=100)
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    env.invite(arn, ADMIN, M2)
    assert members.monitoring_pass(env.services, now_ms()) == 0
    assert env.status(arn, ADMIN, M1) == ("ACCEPTED_BUT_DISABLED", "VOLUME_UNKNOWN")
    assert env.status(arn, ADMIN, M2) == ("INVITED", None)


# --- StartMonitoringMember ------------------------------------------------------------------


def test_start_monitoring_member_enables_when_room_appears(make_env):
    env = make_env(accounts=(account(M1, daily_volume=70), account(M2, daily_volume=70)), graph_volume_limit=100)
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    assert env.join(arn, ADMIN, M2)["DisabledReason"] == "VOLUME_TOO_HIGH"
    # Still no room: the status stays ACCEPTED_BUT_DISABLED.
    env.call(members.start_monitoring_member, ADMIN, {"GraphArn": arn, "AccountId": M2})
    assert env.status(arn, ADMIN, M2) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")
    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
    env.call(members.start_monitoring_member, ADMIN, {"GraphArn": arn, "AccountId": M2})
    assert env.status(arn, ADMIN, M2) == ("ENABLED", None)


def test_start_monitoring_member_after_guardduty_enrollment(make_env):
    env = make_env(accounts=(account(M1, guardduty=False),))
    arn = env.graph(ADMIN)
    assert env.join(arn, ADMIN, M1)["DisabledReason"] == "VOLUME_UNKNOWN"
    env.set_directory(accounts=(account(M1, guardduty=True),))
    env.call(members.start_monitoring_member, ADMIN, {"GraphArn": arn, "AccountId": M1})
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)


def test_start_monitoring_member_needs_accepted_but_disabled(make_env):
    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)  # VERIFICATION_IN_PROGRESS
    with pytest.raises(ConflictException):
        env.call(members.start_monitoring_member, ADMIN, {"GraphArn": arn, "AccountId": M1})
    env.run_jobs(all_pending=True)  # INVITED
    with pytest.raises(ConflictException):
        env.call(members.start_monitoring_member, ADMIN, {"GraphArn": arn, "AccountId": M1})
    env.accept(arn, M1)
    env.run_jobs(all_pending=True)  # ENABLED
    with pytest.raises(ConflictException):
        env.call(members.start_monitoring_member, ADMIN, {"GraphArn": arn, "AccountId": M1})
    with pytest.raises(ResourceNotFoundException):
        env.call(members.start_monitoring_member, ADMIN, {"GraphArn": arn, "AccountId": M3})
    assert env.status(arn, ADMIN, M1) == ("ENABLED", None)


# --- MemberDetail volume fields ---------------------------------------------------------------


def test_member_detail_volume_fields_come_from_the_latest_day(make_env):
    env = make_env(graph_volume_limit=1000)
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    env.join(arn, ADMIN, M2)
    env.add_volume(arn, M1, "DETECTIVE_CORE", "2024-05-01", 500, 1_000_000)
    env.add_volume(arn, M1, "DETECTIVE_CORE", "2024-05-02", 100, 2_000_000)
    env.add_volume(arn, M1, "EKS_AUDIT", "2024-05-02", 50, 3_000_000)

    for detail in (env.member(arn, ADMIN, M1), listed(env, arn)[M1],
                   env.call(invitations.list_invitations, M1)["Invitations"][0]):
        assert detail["VolumeUsageInBytes"] == 150
        assert detail["PercentOfGraphUtilization"] == pytest.approx(15.0)
        assert detail["VolumeUsageUpdatedTime"] == pytest.approx(3000.0)
        assert detail["PercentOfGraphUtilizationUpdatedTime"] == pytest.approx(3000.0)
        assert detail["VolumeUsageByDatasourcePackage"] == {
            "DETECTIVE_CORE": {"VolumeUsageInBytes": 100, "VolumeUsageUpdateTime": pytest.approx(2000.0)},
            "EKS_AUDIT": {"VolumeUsageInBytes": 50, "VolumeUsageUpdateTime": pytest.approx(3000.0)},
        }
    # No ingested data, no volume figures.
    other = env.member(arn, ADMIN, M2)
    assert other.get("VolumeUsageInBytes") is None
    assert other.get("PercentOfGraphUtilization") is None


def test_percent_of_graph_utilization_is_of_the_limit_not_of_the_graph(make_env):
    # The docs' example: graph at 80 of 160 a day, member at 40: 25 percent.
    env = make_env(graph_volume_limit=160)
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    env.add_volume(arn, ADMIN, "DETECTIVE_CORE", "2024-05-01", 40, 1000)
    env.add_volume(arn, M1, "DETECTIVE_CORE", "2024-05-01", 40, 1000)
    assert env.member(arn, ADMIN, M1)["PercentOfGraphUtilization"] == pytest.approx(25.0)


# --- Compare-and-set: stale or repeated background steps change nothing -------------------


def test_verification_of_a_deleted_member_does_nothing(make_env):
    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
    env.run_jobs(all_pending=True)
    assert env.member(arn, ADMIN, M1) is None
    assert env.mailer.sent == []
    assert env.runner.pending() == 0


def test_a_repeated_verification_invites_once(make_env):
    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    with env.store.write() as conn:
        enqueue(conn, members.VERIFY_MEMBER, {"graph": arn, "account": M1})
    env.run_jobs(all_pending=True)
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    assert len(env.mailer.sent) == 1
    assert env.runner.pending() == 0


def test_a_stale_volume_check_does_not_enable_a_reinvited_member(make_env):
    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    env.run_jobs(all_pending=True)
    env.accept(arn, M1)  # volume check pending
    assert env.status(arn, ADMIN, M1) == ("ACCEPTED_BUT_DISABLED", None)
    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
    env.invite(arn, ADMIN, M1)  # verification pending
    assert env.run_jobs(all_pending=True) == 2
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)


def test_a_volume_check_of_a_deleted_member_does_not_resurrect_it(make_env):
    env = make_env(job_delay=30)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    env.run_jobs(all_pending=True)
    env.accept(arn, M1)
    env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [M1]})
    env.run_jobs(all_pending=True)
    assert env.member(arn, ADMIN, M1) is None
    assert env.call(invitations.list_invitations, M1)["Invitations"] == []


def _stale_member(monkeypatch, status: str) -> None:
    real = members._member

    def stale(*args, **kwargs):
        row = real(*args, **kwargs)
        return None if row is None else SimpleNamespace(**{**row._asdict(), "status": status})

    monkeypatch.setattr(members, "_member", stale)


def test_a_volume_check_on_a_stale_read_does_not_enable(env, monkeypatch):
    """The conditional UPDATE (WHERE status = 'ACCEPTED_BUT_DISABLED') keeps a stale decision out."""
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    _stale_member(monkeypatch, "ACCEPTED_BUT_DISABLED")
    with env.store.write() as conn:
        members.job_check_volume(env.services, conn, {"graph": arn, "account": M1}, now_ms())
    monkeypatch.undo()
    detail = env.member(arn, ADMIN, M1)
    assert (detail["Status"], detail.get("DisabledReason")) == ("INVITED", None)
    assert not detail.get("DatasourcePackageIngestStates")


def test_a_verification_on_a_stale_read_sends_no_second_invitation(env, monkeypatch):
    """A verification that loses the compare-and-set (the member is no longer being verified)
    must not act on its stale read: no second invitation email."""
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    assert len(env.mailer.sent) == 1
    _stale_member(monkeypatch, "VERIFICATION_IN_PROGRESS")
    with env.store.write() as conn:
        members.job_verify_member(env.services, conn, {"graph": arn, "account": M1}, now_ms())
    monkeypatch.undo()
    assert env.status(arn, ADMIN, M1) == ("INVITED", None)
    assert len(env.mailer.sent) == 1


def test_transition_is_a_compare_and_set(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, M1)
    before = env.member(arn, ADMIN, M1)
    with env.store.write() as conn:
        assert members._transition(conn, arn, M1, "VERIFICATION_IN_PROGRESS", now_ms(), status="ENABLED") is False
        assert members._transition(conn, arn, M3, "INVITED", now_ms(), status="ENABLED") is False
    assert env.member(arn, ADMIN, M1) == before
    with env.store.write() as conn:
        assert members._transition(conn, arn, M1, "INVITED", now_ms(), status="ACCEPTED_BUT_DISABLED") is True
    assert env.status(arn, ADMIN, M1) == ("ACCEPTED_BUT_DISABLED", None)
