"""Routes built from the model's ``http`` traits: (method, path) -> operation.

    raw path ──split──> literal segments ──┬─ static table  (/graph/members/get)
                                           └─ templates     (/tags/{ResourceArn})

Path labels are matched on the raw (still percent-encoded) path so that an encoded ``/``
inside a label cannot change the route; labels are decoded after matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from botocore.model import OperationModel

from gumshoe.errors import MethodNotAllowedException, UnknownOperationException
from gumshoe.protocol.model import operations


@dataclass(frozen=True, slots=True)
class Route:
    operation: OperationModel
    labels: dict[str, str]


class Router:
    def __init__(self, ops: list[OperationModel] | None = None) -> None:
        self._static: dict[tuple[str, str], OperationModel] = {}
        self._templates: list[tuple[str, tuple[str, ...], OperationModel]] = []
        self._methods_by_path: dict[str, set[str]] = {}
        for op in ops if ops is not None else operations():
            method = op.http["method"]
            uri = op.http["requestUri"].split("?", 1)[0]
            segments = tuple(uri.strip("/").split("/"))
            if any(s.startswith("{") for s in segments):
                self._templates.append((method, segments, op))
            else:
                self._static[(method, uri)] = op
            self._methods_by_path.setdefault(uri, set()).add(method)

    def match(self, method: str, raw_path: str) -> Route:
        op = self._static.get((method, raw_path))
        if op is not None:
            return Route(op, {})
        path = raw_path.rstrip("/") if raw_path != "/" else raw_path
        op = self._static.get((method, path))
        if op is not None:
            return Route(op, {})
        parts = path.strip("/").split("/")
        known_path = path in self._methods_by_path
        for t_method, segments, t_op in self._templates:
            labels = _match_template(segments, parts)
            if labels is None:
                continue
            if t_method == method:
                return Route(t_op, labels)
            known_path = True
        if known_path:
            raise MethodNotAllowedException(f"The method {method} is not allowed on {raw_path}.")
        raise UnknownOperationException(f"No operation of Amazon Detective is served at {method} {raw_path}.")


def _match_template(segments: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    if len(segments) != len(parts):
        return None
    labels: dict[str, str] = {}
    for seg, part in zip(segments, parts, strict=True):
        if seg.startswith("{"):
            if not part:
                return None
            labels[seg.strip("{}+")] = unquote(part)
        elif seg != part:
            return None
    return labels
