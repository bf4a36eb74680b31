"""The Accounts page's datasource packages: an optional package turned off with Gumshoe's own
DisableDatasourcePackages and on again with UpdateDatasourcePackages, over plain HTTP as the
browser sends it (a signed-in session, the CSRF token); DETECTIVE_CORE and forged forms
refused; a member account and an outsider refused on the administrator's graph."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from console_browser import ConsoleClient
from e2e_helpers import member, module_server, wait_for

ADMIN, MEMBER, OUTSIDER = "111111111111", "222222222222", "999999999999"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server where ADMIN's graph has MEMBER as an enabled member."""
    with module_server(tmp_path_factory, args=["--job-delay", "0"], name="console-packages") as server:
        api = server.client(ADMIN)
        arn = api.create_graph()["GraphArn"]
        api.create_members(GraphArn=arn, Accounts=[{"AccountId": MEMBER, "EmailAddress": "m@example.com"}])
        wait_for(lambda: (member(api, arn, MEMBER) or {}).get("Status") == "INVITED", what="the invitation")
        server.client(MEMBER).accept_invitation(GraphArn=arn)
        wait_for(lambda: (member(api, arn, MEMBER) or {}).get("Status") == "ENABLED", what="the member enabled")
        server.arn = arn
        yield server


@pytest.fixture
def admin(served: Any) -> Iterator[ConsoleClient]:
    client = ConsoleClient(served.url)
    assert client.sign_in(ADMIN).status_code == 303
    yield client
    client.close()


def states(served: Any) -> dict[str, dict[str, Any]]:
    return served.client(ADMIN).list_datasource_packages(GraphArn=served.arn)["DatasourcePackages"]  # type: ignore[no-any-return]


def package_row(page: str, package: str) -> str:
    start = page.index(f"<code>{package}</code>")
    return page[start:page.index("</tr>", start)]


def test_the_administrator_disables_an_optional_package_and_starts_it_again(served: Any, admin: ConsoleClient) -> None:
    page = admin.get("/console/accounts").text
    assert 'id="disable-EKS_AUDIT"' in package_row(page, "EKS_AUDIT")
    assert 'id="start-ASFF_SECURITYHUB_FINDING"' in package_row(page, "ASFF_SECURITYHUB_FINDING")
    assert "<button" not in package_row(page, "DETECTIVE_CORE")  # the core package has no switch
    before = time.time()
    answer = admin.post("/console/accounts/packages/disable", {"graph_arn": served.arn, "package": "EKS_AUDIT"},
                        csrf=admin.token)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/accounts?done=packages-disabled"
    eks = states(served)["EKS_AUDIT"]
    assert eks["DatasourcePackageIngestState"] == "DISABLED"
    changed = eks["LastIngestStateChange"]["DISABLED"]["Timestamp"].timestamp()
    assert before - 5 <= changed <= time.time() + 5 and "STARTED" in eks["LastIngestStateChange"]
    # For the member too, in the AWS API's own views.
    api = served.client(ADMIN)
    assert member(api, served.arn, MEMBER)["DatasourcePackageIngestStates"]["EKS_AUDIT"] == "DISABLED"
    [history] = api.batch_get_graph_member_datasources(GraphArn=served.arn, AccountIds=[MEMBER])["MemberDatasources"]
    assert "DISABLED" in history["DatasourcePackageIngestHistory"]["EKS_AUDIT"]
    page = admin.get(answer.headers["location"]).text
    assert "The datasource package was disabled" in page
    row = package_row(page, "EKS_AUDIT")
    assert "DISABLED" in row and 'id="start-EKS_AUDIT"' in row and "last started" in row
    # On again, with the AWS API's UpdateDatasourcePackages.
    answer = admin.post("/console/accounts/packages", {"graph_arn": served.arn, "package": "EKS_AUDIT"},
                        csrf=admin.token)
    assert answer.status_code == 303 and states(served)["EKS_AUDIT"]["DatasourcePackageIngestState"] == "STARTED"
    assert member(api, served.arn, MEMBER)["DatasourcePackageIngestStates"]["EKS_AUDIT"] == "STARTED"


def test_forged_forms_and_the_core_package_change_nothing(served: Any, admin: ConsoleClient) -> None:
    admin.get("/console/accounts")
    before = states(served)
    for token in (None, "A" * 43):
        refused = admin.post("/console/accounts/packages/disable", {"graph_arn": served.arn, "package": "EKS_AUDIT"},
                             csrf=token)
        assert refused.status_code == 403 and "security token" in refused.text
    core = admin.post("/console/accounts/packages/disable", {"graph_arn": served.arn, "package": "DETECTIVE_CORE"},
                      csrf=admin.token)
    assert core.status_code == 400 and "DETECTIVE_CORE cannot be disabled" in core.text
    payload = "<script>alert(9)</script>"
    odd = admin.post("/console/accounts/packages/disable", {"graph_arn": served.arn, "package": payload},
                     csrf=admin.token)
    assert odd.status_code == 400 and payload not in odd.text and "&lt;script&gt;alert(9)&lt;/script&gt;" in odd.text
    assert states(served) == before


@pytest.mark.parametrize("who", [MEMBER, OUTSIDER])
def test_a_member_or_another_account_cannot_disable_the_administrators_package(served: Any, who: str) -> None:
    client = ConsoleClient(served.url)
    try:
        assert client.sign_in(who).status_code == 303
        assert "/console/accounts/packages/disable" not in client.get("/console/accounts").text  # no graph of its own
        before = states(served)
        refused = client.post("/console/accounts/packages/disable", {"graph_arn": served.arn, "package": "EKS_AUDIT"},
                              csrf=client.token)
        assert refused.status_code == 404 and "ResourceNotFound" not in refused.text
        assert states(served) == before
        assert member(served.client(ADMIN), served.arn, MEMBER)["DatasourcePackageIngestStates"]["EKS_AUDIT"] == "STARTED"
    finally:
        client.close()
