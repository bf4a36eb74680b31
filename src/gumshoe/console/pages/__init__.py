"""The console's pages, one module per page; ``routes()`` is the routing table."""

from __future__ import annotations

from gumshoe.console.page import Route
from gumshoe.console.pages import (
    accounts,
    events,
    flows,
    groups,
    home,
    investigations,
    profile,
    search,
    signin,
    summary,
)


def routes() -> list[Route]:

    G = "*"  # a graph id
    return [
        Route("GET", (), home.home),
        Route("GET", ("static", "*"), home.static, signed_in=False),
        Route("GET", ("static", "vendor", "*"), home.vendor_static, signed_in=False),
        Route("GET", ("signin",), signin.form, signed_in=False),
        Route("POST", ("signin",), signin.sign_in, signed_in=False, csrf=False),  # its own token, checked there
        Route("POST", ("signout",), signin.sign_out),
        Route("POST", ("region",), signin.set_region),
        Route("GET", ("detective",), home.detective_link),
        Route("GET", ("accounts",), accounts.page),
        Route("POST", ("accounts", "graph"), accounts.create_graph),
        Route("POST", ("accounts", "members"), accounts.invite),
        Route("POST", ("accounts", "members", "delete"), accounts.remove),
        Route("POST", ("accounts", "packages"), accounts.packages),
        Route("POST", ("accounts", "packages", "disable"), accounts.disable_package),
        Route("POST", ("accounts", "organization"), accounts.auto_enable),
        Route("POST", ("accounts", "organization", "enable"), accounts.enable_organization_accounts),
        Route("POST", ("accounts", "organization", "administrator"), accounts.designate_administrator),
        Route("POST", ("invitations", "accept"), accounts.accept),
        Route("POST", ("invitations", "reject"), accounts.reject),
        Route("POST", ("invitations", "leave"), accounts.leave),
        Route("GET", ("graphs", G), summary.graph_home),
        Route("GET", ("graphs", G, "summary"), summary.page),
        Route("GET", ("graphs", G, "search"), search.page),
        Route("GET", ("graphs", G, "complete"), search.complete),
        Route("GET", ("graphs", G, "entities", "*", "*"), profile.page),
        Route("GET", ("graphs", G, "entities", "*", "*", "flows"), flows.page),
        Route("GET", ("graphs", G, "events"), events.page),
        Route("GET", ("graphs", G, "events.csv"), events.export_csv),
        Route("GET", ("graphs", G, "events.parquet"), events.export_parquet),
        Route("GET", ("graphs", G, "finding-groups"), groups.index),
        Route("GET", ("graphs", G, "finding-groups", "*"), groups.show),
        Route("GET", ("graphs", G, "investigations"), investigations.index),
        Route("POST", ("graphs", G, "investigations"), investigations.start),
        Route("GET", ("graphs", G, "investigations", "*"), investigations.report),
        Route("GET", ("graphs", G, "investigations", "*", "report.json"), investigations.export),
        Route("POST", ("graphs", G, "investigations", "*", "state"), investigations.set_state),
    ]
