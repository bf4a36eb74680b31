"""Operation name -> api function. Every operation of the model has exactly one entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gumshoe.api import datasources, graphs, investigations, invitations, members, organization, tags
from gumshoe.api._context import Context

Handler = Callable[[Context, dict[str, Any]], Any]

HANDLERS: dict[str, Handler] = {
    "CreateGraph": graphs.create_graph,
    "DeleteGraph": graphs.delete_graph,
    "ListGraphs": graphs.list_graphs,
    "CreateMembers": members.create_members,
    "GetMembers": members.get_members,
    "ListMembers": members.list_members,
    "DeleteMembers": members.delete_members,
    "StartMonitoringMember": members.start_monitoring_member,
    "ListInvitations": invitations.list_invitations,
    "AcceptInvitation": invitations.accept_invitation,
    "RejectInvitation": invitations.reject_invitation,
    "DisassociateMembership": invitations.disassociate_membership,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
    "EnableOrganizationAdminAccount": organization.enable_organization_admin_account,
    "DisableOrganizationAdminAccount": organization.disable_organization_admin_account,
    "ListOrganizationAdminAccounts": organization.list_organization_admin_accounts,
    "DescribeOrganizationConfiguration": organization.describe_organization_configuration,
    "UpdateOrganizationConfiguration": organization.update_organization_configuration,
    "ListDatasourcePackages": datasources.list_datasource_packages,
    "UpdateDatasourcePackages": datasources.update_datasource_packages,
    "BatchGetGraphMemberDatasources": datasources.batch_get_graph_member_datasources,
    "BatchGetMembershipDatasources": datasources.batch_get_membership_datasources,
    "StartInvestigation": investigations.start_investigation,
    "GetInvestigation": investigations.get_investigation,
    "ListInvestigations": investigations.list_investigations,
    "ListIndicators": investigations.list_indicators,
    "UpdateInvestigationState": investigations.update_investigation_state,
}

READ_ONLY = frozenset(
    name for name in HANDLERS if name.startswith(("List", "Get", "Describe", "BatchGet"))
)
