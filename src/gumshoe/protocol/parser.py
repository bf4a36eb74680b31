"""Requests off the wire: path labels, query string and JSON body into the operation's input.

    labels + query ─┐
                    ├─> one dict of member names ─> compiled validator ─> params
    JSON body ──────┘

A codec is built once per operation from its input and output shapes.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from botocore.model import OperationModel

from gumshoe.errors import SerializationException
from gumshoe.protocol.serializer import Writer, compile_output
from gumshoe.protocol.validate import (
    Errors,
    compile_shape,
    fail,
    lower_camel,
    raise_if_any,
)

_LONG_NUMBER = re.compile(rb"\d{19,}")


class OperationCodec:
    def __init__(self, op: OperationModel) -> None:
        self.operation = op
        self.name: str = op.name
        self.status: int = int(op.http.get("responseCode", 200))
        self.uri_members: dict[str, str] = {}
        self.query_members: dict[str, tuple[str, bool]] = {}
        self.body_members: set[str] = set()
        shape = op.input_shape
        if shape is not None:
            for name, member in shape.members.items():
                location = member.serialization.get("location")
                wire = member.serialization.get("name", name)
                if location == "uri":
                    self.uri_members[wire] = name
                elif location == "querystring":
                    self.query_members[wire] = (name, member.type_name == "list")
                elif location is None:
                    self.body_members.add(name)
        self._validate = compile_shape(shape) if shape is not None else None
        output = op.output_shape
        self._write: Writer | None = compile_output(output) if output is not None else None
        self.has_body_output = output is not None and self.status != 204

    def parse(self, labels: dict[str, str], query_string: bytes, body: bytes) -> dict[str, Any]:
        data: Any
        if body.strip():
            try:
                data = orjson.loads(body)
                if _LONG_NUMBER.search(body):
                    # orjson reads integers past 64 bits as floats; messages must quote the
                    # number as sent, so such bodies are read again by the exact parser.
                    data = json.loads(body)
            except (orjson.JSONDecodeError, ValueError) as exc:
                raise SerializationException(f"The request body is not valid JSON: {exc}.") from None
            if not isinstance(data, dict):
                raise SerializationException("The request body must be a JSON object.")
        else:
            data = {}
        errors: Errors = []
        if self._validate is None:
            for key, value in data.items():
                fail(errors, value, lower_camel(str(key)), "Member is not defined by the model of this operation")
            raise_if_any(errors)
            return {}
        # Path and query members sent in the body are unknown members of the body, too.
        for key in data:
            if key not in self.body_members:
                fail(errors, data[key], lower_camel(str(key)), "Member is not defined by the model of this operation")
        data = {k: v for k, v in data.items() if k in self.body_members}
        for wire, name in self.uri_members.items():
            if wire in labels:
                data[name] = labels[wire]
        if self.query_members and query_string:
            for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
                entry = self.query_members.get(key)
                if entry is None:
                    continue
                name, is_list = entry
                if is_list:
                    data.setdefault(name, []).append(value)
                else:
                    data[name] = value
        params = self._validate(data, "", errors)
        raise_if_any(errors, error_code=_error_code(errors))
        return params  # type: ignore[no-any-return]

    def serialize(self, result: dict[str, Any] | bytes | None) -> bytes:
        if isinstance(result, bytes):
            return result  # answered from prebuilt JSON (api/_member_cache.py)
        if not self.has_body_output or self._write is None:
            return b"{}" if self.status != 204 else b""
        return orjson.dumps(self._write(result or {}))


def _error_code(errors: Errors) -> str:
    # Detective tells a malformed graph ARN apart from the rest of a bad body.
    if errors and all("at 'graphArn'" in e or "at 'resourceArn'" in e for e in errors):
        return "INVALID_GRAPH_ARN"
    return "INVALID_REQUEST_BODY"
