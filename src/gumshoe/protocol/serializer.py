"""Responses and errors on the wire (rest-json), walked from the model's output shapes.

Each output shape compiles once into a function that drops absent members, renders
timestamps as ISO 8601 with milliseconds and ``Z`` (``2021-08-18T16:35:56.284Z``, the form
Detective documents) and leaves everything else as JSON-ready values for orjson.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import orjson
from botocore.model import Shape

from gumshoe.errors import DetectiveError
from gumshoe.protocol.model import error_members, error_statuses

Writer = Callable[[Any], Any]


def iso8601(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def compile_output(shape: Shape, _cache: dict[str, Writer] | None = None) -> Writer:
    cache = _cache if _cache is not None else {}
    if shape.name in cache:
        return cache[shape.name]
    slot: list[Writer] = []
    cache[shape.name] = lambda v: slot[0](v)
    fn = _build(shape, cache)
    slot.append(fn)
    cache[shape.name] = fn
    return fn


def _identity(value: Any) -> Any:
    return value


_SECOND_PREFIXES: dict[int, str] = {}


def epoch_iso8601(seconds: float) -> str:
    """``iso8601`` for epoch seconds, without datetime objects: a response of 200 members
    formats ~400 timestamps, and strftime was most of its cost."""
    millis = round(seconds * 1000)
    whole, ms = divmod(millis, 1000)
    prefix = _SECOND_PREFIXES.get(whole)
    if prefix is None:
        if len(_SECOND_PREFIXES) > 65536:
            _SECOND_PREFIXES.clear()
        t = time.gmtime(whole)
        prefix = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}."
        _SECOND_PREFIXES[whole] = prefix
    return f"{prefix}{ms:03d}Z"


def _timestamp(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return epoch_iso8601(value)
    if isinstance(value, dt.datetime):
        return iso8601(value)
    return value


def _build(shape: Shape, cache: dict[str, Writer]) -> Writer:
    kind = shape.type_name
    if kind == "timestamp":
        return _timestamp
    if kind == "double" or kind == "float":
        return lambda v: float(v)
    if kind == "structure":
        writers = {
            name: (compile_output(mshape, cache), mshape.serialization.get("name", name))
            for name, mshape in shape.members.items()
            if mshape.serialization.get("location") is None
        }
        simple = all(w[0] is _identity and w[1] == n for n, w in writers.items())

        def structure(value: dict[str, Any]) -> dict[str, Any]:
            if simple:
                return {k: v for k, v in value.items() if v is not None and k in writers}
            out = {}
            for k, v in value.items():
                if v is None:
                    continue
                entry = writers.get(k)
                if entry is not None:
                    out[entry[1]] = entry[0](v)
            return out

        return structure
    if kind == "list":
        item = compile_output(shape.member, cache)
        if item is _identity:
            return list
        return lambda v: [item(x) for x in v]
    if kind == "map":
        val = compile_output(shape.value, cache)
        if val is _identity:
            return dict
        return lambda v: {k: val(x) for k, x in v.items()}
    return _identity


def error_body(error: DetectiveError) -> tuple[int, bytes]:
    """Status and JSON body of an error: ``message``, ``Message`` and the modeled members."""
    statuses = error_statuses()
    modeled = error.code in statuses
    status = statuses.get(error.code, error.status)
    body: dict[str, Any] = {"message": error.message, "Message": error.message}
    allowed = error_members(error.code)
    for key, value in error.members.items():
        # A modeled error carries only its shape's members; protocol errors carry theirs.
        if not modeled or key in allowed:
            body[key] = value
    return status, orjson.dumps(body)
