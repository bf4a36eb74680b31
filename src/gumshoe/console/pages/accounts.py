"""Accounts: the caller's behavior graph in the session's Region with its members, datasource
packages and invitations sent; and the invitations the caller received, to accept, decline
or leave. Everything goes through the api functions, so their rules and errors are the AWS
API's; an error is shown on the page as the API words it.

The organization's part is shown to two accounts only:

    the Detective administrator    the organization's accounts, each a member or not, with its
      (its graph is the             status; AutoEnable (Describe/UpdateOrganizationConfiguration);
       organization graph)          enable accounts that are not members yet (CreateMembers
                                    without an email, as Detective's console does)
    the management account         the Detective administrator account of the Region
                                    (ListOrganizationAdminAccounts), and designating one
                                    (EnableOrganizationAdminAccount)

The organization's accounts come from the account directory, as Detective's console asks
AWS Organizations (ListAccounts) for them.

The optional datasource packages are started with UpdateDatasourcePackages and, as in
Detective's console, turned off again: with Gumshoe's own DisableDatasourcePackages
(api/datasources.py), since the AWS API has no operation for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gumshoe.api.datasources import OPTIONAL_PACKAGES, disable_datasource_packages
from gumshoe.api.organization import organization_graph_of
from gumshoe.console.page import Page
from gumshoe.console.web import Response, redirect, url
from gumshoe.errors import DetectiveError

NOTICES = {
    "created": "The behavior graph was created. Ingest logs into it (gumshoe ingest PATH) and open its summary.",
    "invited": "The invitation was sent.",
    "removed": "The member account was removed.",
    "accepted": "You accepted the invitation: your account's data now contributes to that behavior graph.",
    "declined": "You declined the invitation.",
    "left": "Your account left the behavior graph.",
    "packages": "The datasource package was started.",
    "packages-disabled": "The datasource package was disabled: the behavior graph takes no more of its records "
                         "(what it holds stays). Start it again to resume.",
    "org-enabled": "Detective is enabling the organization accounts: it checks that each belongs to the organization, "
                   "then its data volume. The table shows where each one stands.",
    "auto-enable-on": "AutoEnable is on: accounts that join the organization from now on become member accounts.",
    "auto-enable-off": "AutoEnable is off: accounts that join the organization are not enabled automatically.",
    "designated": "The Detective administrator account was designated: its behavior graph is the organization "
                  "behavior graph.",
}
# The model's CreateMembers.Accounts holds 1 to 50 accounts.
CREATE_MEMBERS_MAX_ACCOUNTS = 50
PACKAGE_LABELS = {
    "DETECTIVE_CORE": "Detective core (CloudTrail, VPC Flow Logs, GuardDuty)",
    "EKS_AUDIT": "EKS audit logs",
    "ASFF_SECURITYHUB_FINDING": "Security Hub findings",
}


def organization_rows(accounts: Iterable[str], members: list[dict[str, Any]], administrator: str,
                      directory: Any) -> list[dict[str, Any]]:
    """The organization's accounts in account order: each one's name and email from the
    directory, and its membership of the administrator's graph (None: not a member)."""
    by_account = {m["AccountId"]: m for m in members}
    rows = []
    for account_id in sorted(accounts):
        entry = directory.entry(account_id)
        member = by_account.get(account_id)
        rows.append({
            "id": account_id, "name": entry.name if entry is not None else None,
            "email": entry.email if entry is not None else None, "member": member,
            "administrator": account_id == administrator,
            "enable": member is None and account_id != administrator,
        })
    return rows


def _organization(page: Page, graph_arn: str, members: list[dict[str, Any]], errors: list[str]) -> dict[str, Any] | None:
    """The organization's part for its Detective administrator, or None for any other caller."""
    account = page.account_id
    if organization_graph_of(page.console.services.store, account, page.region) != graph_arn:
        return None
    try:
        auto_enable = bool(page.call("DescribeOrganizationConfiguration", {"GraphArn": graph_arn}).get("AutoEnable"))
    except DetectiveError as exc:
        errors.append(exc.message)
        return None
    directory = page.console.services.directory
    rows = organization_rows(directory.organization_accounts(), members, account, directory)
    return {"auto_enable": auto_enable, "accounts": rows, "to_enable": sum(1 for r in rows if r["enable"]),
            "members": sum(1 for r in rows if r["member"] is not None)}


def _management(page: Page, errors: list[str]) -> dict[str, Any] | None:
    """The Region's Detective administrator, for the organization's management account only."""
    if not page.console.services.directory.is_management_account(page.account_id):
        return None
    try:
        admins = page.call_all("ListOrganizationAdminAccounts", {}, "Administrators")
    except DetectiveError as exc:
        errors.append(exc.message)
        admins = []
    return {"administrators": admins}


def _gather(page: Page) -> dict[str, Any]:
    out: dict[str, Any] = {"graph": None, "members": [], "packages": {}, "invitations": [], "errors": [],
                           "organization": None, "management": None}
    try:
        graphs = page.call("ListGraphs").get("GraphList") or []
    except DetectiveError as exc:
        graphs = []
        out["errors"].append(exc.message)
    if graphs:
        graph = graphs[0]
        arn = graph["Arn"]
        out["graph"] = {"arn": arn, "id": arn.rsplit(":", 1)[-1], "created": graph.get("CreatedTime")}
        try:
            out["members"] = page.call_all("ListMembers", {"GraphArn": arn}, "MemberDetails")
            out["packages"] = page.call("ListDatasourcePackages", {"GraphArn": arn}).get("DatasourcePackages") or {}
        except DetectiveError as exc:
            out["errors"].append(exc.message)
        out["organization"] = _organization(page, arn, out["members"], out["errors"])
    out["management"] = _management(page, out["errors"])
    try:
        out["invitations"] = page.call_all("ListInvitations", {}, "Invitations")
    except DetectiveError as exc:
        out["errors"].append(exc.message)
    return out


def _render(page: Page, *, error: str | None = None, problems: list[str] | None = None, status: int = 200,
            form: dict[str, str] | None = None) -> Response:
    gathered = _gather(page)
    notice = NOTICES.get(page.request.query.get("done", ""))
    errors = ([error] if error else []) + (problems or []) + gathered.pop("errors")
    return page.render("accounts.html", status=status, title="Accounts", notice=notice, errors=errors,
                       form=form or {}, optional_packages=OPTIONAL_PACKAGES, package_labels=PACKAGE_LABELS,
                       **gathered)


async def page(page: Page) -> Response:
    return _render(page)


def _act(page: Page, operation: str, params: dict[str, Any], done: str) -> Response:
    """Carry out one operation from a form; back to the page, with its notice or the error."""
    try:
        answer = page.call(operation, params)
    except DetectiveError as exc:
        return _render(page, error=exc.message, status=exc.status, form=dict(page.request.form))
    unprocessed = answer.get("UnprocessedAccounts") or answer.get("UnprocessedGraphs") or []
    if unprocessed:
        problems = [f"{u.get('AccountId') or u.get('GraphArn')}: {u.get('Reason')}" for u in unprocessed]
        return _render(page, problems=problems, status=400, form=dict(page.request.form))
    return redirect(url("/console/accounts", done=done))


async def create_graph(page: Page) -> Response:
    return _act(page, "CreateGraph", {}, "created")


async def invite(page: Page) -> Response:
    form = page.request.form
    account = {"AccountId": form.get("account_id", "").strip(), "EmailAddress": form.get("email", "").strip()}
    if not account["EmailAddress"]:
        del account["EmailAddress"]
    params: dict[str, Any] = {"GraphArn": form.get("graph_arn", ""), "Accounts": [account]}
    if form.get("message", "").strip():
        params["Message"] = form["message"].strip()
    if form.get("disable_email") == "on":
        params["DisableEmailNotification"] = True
    return _act(page, "CreateMembers", params, "invited")


async def remove(page: Page) -> Response:
    form = page.request.form
    return _act(page, "DeleteMembers", {"GraphArn": form.get("graph_arn", ""), "AccountIds": [form.get("account_id", "")]},
                "removed")


async def packages(page: Page) -> Response:
    form = page.request.form
    return _act(page, "UpdateDatasourcePackages",
                {"GraphArn": form.get("graph_arn", ""), "DatasourcePackages": [form.get("package", "")]}, "packages")


async def disable_package(page: Page) -> Response:
    """Gumshoe's own DisableDatasourcePackages (the AWS API has none): an optional package off."""
    form = page.request.form
    params = {"GraphArn": form.get("graph_arn", ""), "DatasourcePackages": [form.get("package", "")]}
    try:
        page.call_own("DisableDatasourcePackages", disable_datasource_packages, params)
    except DetectiveError as exc:
        return _render(page, error=exc.message, status=exc.status, form=dict(form))
    return redirect(url("/console/accounts", done="packages-disabled"))


async def accept(page: Page) -> Response:
    return _act(page, "AcceptInvitation", {"GraphArn": page.request.form.get("graph_arn", "")}, "accepted")


async def reject(page: Page) -> Response:
    return _act(page, "RejectInvitation", {"GraphArn": page.request.form.get("graph_arn", "")}, "declined")


async def leave(page: Page) -> Response:
    return _act(page, "DisassociateMembership", {"GraphArn": page.request.form.get("graph_arn", "")}, "left")


async def auto_enable(page: Page) -> Response:
    form = page.request.form
    wanted = form.get("auto_enable")
    if wanted not in ("on", "off"):
        return _render(page, error="Choose whether AutoEnable is on or off.", status=400)
    return _act(page, "UpdateOrganizationConfiguration",
                {"GraphArn": form.get("graph_arn", ""), "AutoEnable": wanted == "on"}, f"auto-enable-{wanted}")


async def enable_organization_accounts(page: Page) -> Response:
    """CreateMembers for organization accounts, without an email: in the organization graph the
    API enables them without an invitation. ``all``: every organization account that is not
    a member yet, as the server sees it now."""
    form = page.request.form
    arn = form.get("graph_arn", "")
    if form.get("all") == "on":
        try:
            members = {m["AccountId"] for m in page.call_all("ListMembers", {"GraphArn": arn}, "MemberDetails")}
        except DetectiveError as exc:
            return _render(page, error=exc.message, status=exc.status)
        wanted = sorted(page.console.services.directory.organization_accounts() - members - {page.account_id})
    else:
        wanted = list(dict.fromkeys(a.strip() for a in page.request.form_lists.get("account_id", []) if a.strip()))
    if not wanted:
        return _render(page, error="Choose the organization accounts to enable.", status=400)
    problems: list[str] = []
    for i in range(0, len(wanted), CREATE_MEMBERS_MAX_ACCOUNTS):
        chunk = wanted[i:i + CREATE_MEMBERS_MAX_ACCOUNTS]
        try:
            answer = page.call("CreateMembers", {"GraphArn": arn, "Accounts": [{"AccountId": a} for a in chunk]})
        except DetectiveError as exc:
            return _render(page, error=exc.message, problems=problems, status=exc.status)
        problems += [f"{u.get('AccountId')}: {u.get('Reason')}" for u in answer.get("UnprocessedAccounts") or []]
    if problems:
        return _render(page, problems=problems, status=400)
    return redirect(url("/console/accounts", done="org-enabled"))


async def designate_administrator(page: Page) -> Response:
    return _act(page, "EnableOrganizationAdminAccount",
                {"AccountId": page.request.form.get("administrator_id", "").strip()}, "designated")
