"""The five investigation operations: served by the analytics issue, not yet here.

They answer NotImplementedException (HTTP 501) with a message that says so: never an
empty success that automation could mistake for "no findings".
"""

from __future__ import annotations

from typing import Any

from gumshoe.api._context import Context
from gumshoe.protocol.errors import NotImplementedYetException

INVESTIGATION_OPERATIONS = (
    "StartInvestigation",
    "GetInvestigation",
    "ListInvestigations",
    "ListIndicators",
    "UpdateInvestigationState",
)


def not_implemented(operation: str) -> Any:
    def handler(ctx: Context, params: dict[str, Any]) -> None:
        raise NotImplementedYetException(
            f"{operation} is not implemented by this version of Gumshoe yet: investigations arrive with the "
            "analytics release. The other Detective operations are served in full."
        )

    return handler
