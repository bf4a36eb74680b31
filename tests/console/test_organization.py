"""The organization's part of the Accounts page, on a server with a small organization:

    500000000001  the management account: designates the Detective administrator from its page
    500000000002  the Detective administrator: sees the organization's accounts, turns
                  AutoEnable on and off, enables accounts that are not members yet
    500000000003  an organization account named with an HTML payload; -04, -05 plain ones
    500000000099  outside the organization

Over plain HTTP, as the browser sends it (signed-in sessions, CSRF tokens), and one short
walk in Chromium. Each test uses its own accounts or Region, so they stand alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from console_browser import Browser, ConsoleClient
from e2e_helpers import member, module_server

from gumshoe.config import AccountEntry, Organization, Settings
from gumshoe.console.pages.accounts import organization_rows
from gumshoe.identity.accounts import AccountDirectory

MGMT, ADMIN, NAMED, ORG4, ORG5, OUTSIDER = ("500000000001", "500000000002", "500000000003", "500000000004",
                                            "500000000005", "500000000099")
HTML_NAME = "<img src=x onerror=alert(3)>"
REGION, ALL_REGION, BARE_REGION = "us-east-1", "eu-west-1", "ap-southeast-2"
CONFIG = f"""
[[accounts]]
id = "{NAMED}"
email = "named@example.com"
name = "{HTML_NAME}"

[[accounts]]
id = "{ORG4}"
email = "org4@example.com"
name = "Payments"

[organization]
management_account = "{MGMT}"
accounts = ["{ADMIN}", "{NAMED}", "{ORG4}", "{ORG5}"]
"""


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The server, with the management account's designation of ADMIN made on its Accounts
    page in two Regions (REGION and ALL_REGION; BARE_REGION keeps none)."""
    with module_server(tmp_path_factory, config_toml=CONFIG, args=["--job-delay", "0"], name="console-org") as server:
        management = signed_in(server, MGMT)
        try:
            for region in (REGION, ALL_REGION):
                in_region(management, region)
                answer = management.post("/console/accounts/organization/administrator", {"administrator_id": ADMIN},
                                         csrf=management.token)
                assert answer.status_code == 303 and answer.headers["location"] == "/console/accounts?done=designated"
        finally:
            management.close()
        yield server


def signed_in(server: Any, account: str) -> ConsoleClient:
    client = ConsoleClient(server.url)
    assert client.sign_in(account).status_code == 303
    return client


def in_region(client: ConsoleClient, region: str) -> None:
    answer = client.post("/console/region", {"region": region, "back": "/console/accounts"}, csrf=client.token)
    assert answer.status_code == 303
    client.get("/console/accounts")


def graph_of(server: Any, account: str, region: str = REGION) -> str:
    [graph] = server.client(account, region=region).list_graphs()["GraphList"]
    return str(graph["Arn"])


def auto_enable(server: Any, region: str = REGION) -> bool:
    api = server.client(ADMIN, region=region)
    return bool(api.describe_organization_configuration(GraphArn=graph_of(server, ADMIN, region))["AutoEnable"])


# --- the rows, without a server ------------------------------------------------------------


def test_organization_rows_mark_members_the_administrator_and_the_accounts_to_enable() -> None:
    settings = Settings().with_directory(_directory())
    directory = AccountDirectory(settings)
    members = [{"AccountId": ADMIN, "Status": "ENABLED"},
               {"AccountId": ORG4, "Status": "ENABLED", "InvitationType": "ORGANIZATION"},
               {"AccountId": OUTSIDER, "Status": "INVITED", "InvitationType": "INVITATION"}]
    rows = organization_rows(directory.organization_accounts(), members, ADMIN, directory)
    assert [r["id"] for r in rows] == sorted([MGMT, ADMIN, NAMED, ORG4, ORG5])  # the management account belongs too
    by_id = {r["id"]: r for r in rows}
    assert by_id[ADMIN]["administrator"] and not by_id[ADMIN]["enable"]
    assert by_id[ORG4]["member"]["InvitationType"] == "ORGANIZATION" and not by_id[ORG4]["enable"]
    assert by_id[NAMED] == {"id": NAMED, "name": HTML_NAME, "email": "named@example.com", "member": None,
                            "administrator": False, "enable": True}
    assert by_id[ORG5]["name"] is None and by_id[MGMT]["enable"]
    assert OUTSIDER not in by_id  # an invited member outside the organization is not one of its accounts


def _directory() -> Any:
    from gumshoe.config import Directory

    return Directory(accounts=(AccountEntry(NAMED, "named@example.com", HTML_NAME), AccountEntry(ORG4, name="Payments")),
                     organization=Organization(MGMT, frozenset({MGMT, ADMIN, NAMED, ORG4, ORG5})))


# --- who sees it -----------------------------------------------------------------------------


def test_the_management_account_designated_the_administrator_on_its_page(org: Any) -> None:
    listed = org.client(MGMT).list_organization_admin_accounts()["Administrators"]
    assert [(a["AccountId"], a["GraphArn"]) for a in listed] == [(ADMIN, graph_of(org, ADMIN))]
    management = signed_in(org, MGMT)
    try:
        page = management.get("/console/accounts").text
        assert 'id="management"' in page and graph_of(org, ADMIN) in page
        assert 'action="/console/accounts/organization/administrator"' not in page  # designated already
        assert 'id="organization"' not in page  # the management account is not the administrator
        in_region(management, BARE_REGION)
        page = management.get("/console/accounts").text
        assert f"No Detective administrator account is designated in {BARE_REGION}" in page
        # The API's rule, as the API words it: the administrator is the same in every Region.
        answer = management.post("/console/accounts/organization/administrator", {"administrator_id": NAMED},
                                 csrf=management.token)
        assert answer.status_code == 400 and f"Account {ADMIN} is already the Detective administrator" in answer.text
    finally:
        management.close()


@pytest.mark.parametrize("account", [NAMED, OUTSIDER])
def test_other_accounts_see_no_organization_and_cannot_change_it(org: Any, account: str) -> None:
    client = signed_in(org, account)
    try:
        page = client.get("/console/accounts").text
        assert 'id="organization"' not in page and 'id="management"' not in page
        assert "/console/accounts/organization" not in page
        # Their own graph is no organization graph: the API refuses, and nothing changes.
        client.post("/console/accounts/graph", {}, csrf=client.token)
        before = auto_enable(org)
        for target in (graph_of(org, account), graph_of(org, ADMIN)):
            answer = client.post("/console/accounts/organization", {"graph_arn": target, "auto_enable": "on"},
                                 csrf=client.token)
            assert answer.status_code == 403 and "Only the Detective administrator account" in answer.text
            answer = client.post("/console/accounts/organization/enable", {"graph_arn": target, "account_id": ORG5},
                                 csrf=client.token)
            assert answer.status_code in (400, 404)
        assert auto_enable(org) == before
        assert member(org.client(account), graph_of(org, account), ORG5) is None
    finally:
        client.close()


def test_the_administrator_sees_the_organizations_accounts_escaped(org: Any) -> None:
    admin = signed_in(org, ADMIN)
    try:
        page = admin.get("/console/accounts").text
        section = page[page.index('id="organization"'):page.index('id="inv-h"')]
        assert "The organization has 5 accounts" in section
        for account in (MGMT, ADMIN, NAMED, ORG4, ORG5):
            assert f"<td>{account}" in section or f'<label for="org-{account}">{account}</label>' in section
        assert HTML_NAME not in page and "&lt;img src=x onerror=alert(3)&gt;" in section
        assert "Payments" in section and "Not a member" in section
        assert 'value="' + ADMIN + '"' not in section  # the administrator cannot be chosen
    finally:
        admin.close()


# --- what the administrator does ---------------------------------------------------------


def test_auto_enable_is_turned_on_and_off_with_the_csrf_token_only(org: Any) -> None:
    admin = signed_in(org, ADMIN)
    arn = graph_of(org, ADMIN)
    try:
        assert auto_enable(org) is False and "AutoEnable is <strong>off</strong>" in admin.get("/console/accounts").text
        for token in (None, "A" * 43):
            refused = admin.post("/console/accounts/organization", {"graph_arn": arn, "auto_enable": "on"}, csrf=token)
            assert refused.status_code == 403
        assert auto_enable(org) is False
        assert admin.post("/console/accounts/organization", {"graph_arn": arn, "auto_enable": "maybe"},
                          csrf=admin.token).status_code == 400
        answer = admin.post("/console/accounts/organization", {"graph_arn": arn, "auto_enable": "on"}, csrf=admin.token)
        assert answer.headers["location"] == "/console/accounts?done=auto-enable-on" and auto_enable(org) is True
        page = admin.get(answer.headers["location"]).text
        assert "AutoEnable is <strong>on</strong>" in page and "Turn AutoEnable off" in page
        answer = admin.post("/console/accounts/organization", {"graph_arn": arn, "auto_enable": "off"}, csrf=admin.token)
        assert answer.headers["location"] == "/console/accounts?done=auto-enable-off" and auto_enable(org) is False
    finally:
        admin.close()


def test_chosen_organization_accounts_are_enabled_without_an_invitation(org: Any) -> None:
    admin = signed_in(org, ADMIN)
    arn = graph_of(org, ADMIN)
    try:
        refused = admin.post("/console/accounts/organization/enable", {"graph_arn": arn}, csrf=admin.token)
        assert refused.status_code == 400 and "Choose the organization accounts to enable" in refused.text
        answer = admin.http.post("/console/accounts/organization/enable",
                                 data={"graph_arn": arn, "account_id": [ORG4, NAMED], "csrf": admin.token})
        assert answer.headers["location"] == "/console/accounts?done=org-enabled"
        api = org.client(ADMIN)
        for account in (ORG4, NAMED):
            found = member(api, arn, account)
            assert found is not None and found["InvitationType"] == "ORGANIZATION" and found["Status"] == "ENABLED"
        # Already members: the API's reason, on the page.
        again = admin.post("/console/accounts/organization/enable", {"graph_arn": arn, "account_id": ORG4},
                           csrf=admin.token)
        assert again.status_code == 400 and "already a member account" in again.text
    finally:
        admin.close()


def test_enable_all_enables_every_organization_account_not_yet_a_member(org: Any) -> None:
    admin = signed_in(org, ADMIN)
    in_region(admin, ALL_REGION)
    arn = graph_of(org, ADMIN, ALL_REGION)
    try:
        page = admin.get("/console/accounts").text
        assert "Enable all 4 accounts that are not members" in page
        answer = admin.post("/console/accounts/organization/enable", {"graph_arn": arn, "all": "on"}, csrf=admin.token)
        assert answer.headers["location"] == "/console/accounts?done=org-enabled"
        api = org.client(ADMIN, region=ALL_REGION)
        statuses = {m["AccountId"]: m["Status"] for m in api.list_members(GraphArn=arn)["MemberDetails"]}
        assert statuses == dict.fromkeys((ADMIN, MGMT, NAMED, ORG4, ORG5), "ENABLED")
        page = admin.get("/console/accounts").text
        assert "Not a member" not in page and "enable-all" not in page
    finally:
        admin.close()


# --- in the browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(org: Any, make_browser: Any) -> Browser:
    return make_browser(org.url)  # type: ignore[no-any-return]


def test_the_administrator_enables_an_account_in_the_browser(org: Any, browser: Browser,
                                                             no_console_errors: Any) -> None:
    no_console_errors(browser)
    browser.sign_in(ADMIN)
    browser.get("/console/accounts")
    row = next(r for r in browser.all("table.org-accounts tbody tr") if ORG5 in r.text)
    assert "Not a member" in row.text and not browser.alert_open()
    browser.css(f"#org-{ORG5}").click()
    browser.css("#org-enable button[type=submit]").click()
    browser.wait(lambda d: "Detective is enabling the organization accounts" in browser.text(), "the notice")
    row = next(r for r in browser.all("table.org-accounts tbody tr") if ORG5 in r.text)
    assert "ENABLED" in row.text and "ORGANIZATION" in row.text
    assert HTML_NAME in browser.css("table.org-accounts").text  # the name as its text
    browser.screenshot("organization")
