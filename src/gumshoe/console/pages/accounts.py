"""Accounts: the caller's behavior graph in the session's Region with its members, datasource
packages and invitations sent; and the invitations the caller received, to accept, decline
or leave. Everything goes through the api functions, so their rules and errors are the AWS
API's; an error is shown on the page as the API words it."""

from __future__ import annotations

from typing import Any

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
}
OPTIONAL_PACKAGES = ("EKS_AUDIT", "ASFF_SECURITYHUB_FINDING")
PACKAGE_LABELS = {
    "DETECTIVE_CORE": "Detective core (CloudTrail, VPC Flow Logs, GuardDuty)",
    "EKS_AUDIT": "EKS audit logs",
    "ASFF_SECURITYHUB_FINDING": "Security Hub findings",
}


def _gather(page: Page) -> dict[str, Any]:
    out: dict[str, Any] = {"graph": None, "members": [], "packages": {}, "invitations": [], "errors": []}
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


async def accept(page: Page) -> Response:
    return _act(page, "AcceptInvitation", {"GraphArn": page.request.form.get("graph_arn", "")}, "accepted")


async def reject(page: Page) -> Response:
    return _act(page, "RejectInvitation", {"GraphArn": page.request.form.get("graph_arn", "")}, "declined")


async def leave(page: Page) -> Response:
    return _act(page, "DisassociateMembership", {"GraphArn": page.request.form.get("graph_arn", "")}, "left")
