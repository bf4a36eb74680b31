"""Request validation against the model, with AWS's message form.

botocore's ParamValidator checks only required members, types and minimums on the client.
The service also enforces maximum lengths and counts, patterns and enums; this module checks
all of them and answers in the form AWS's services use:

    1 validation error detected: Value 'x' at 'graphArn' failed to satisfy constraint:
    Member must satisfy regular expression pattern: ^arn:aws...

Member paths are lowerCamel member names joined by '.', list elements as ``name.N.member``
(1-based), as AWS writes them. A validator is compiled once per shape into a closure, so a
request costs one call per member and no model lookups.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from gumshoe.errors import ValidationException

# The model lists Account.EmailAddress as required, but AWS documents that organization
# accounts in the organization behavior graph are enabled without one (2022-01-03 API change).
# The member API enforces the email for invitations instead, in the same message form.
OPTIONAL_OVERRIDES = frozenset({("Account", "EmailAddress")})

Errors = list[str]
Validator = Callable[[Any, str, Errors], Any]

_NOT_NULL = "Member must not be null"


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def render(value: Any) -> str:
    """Values as AWS's (Java) services print them in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={render(v)}" for k, v in value.items()) + "}"
    return str(value)


def fail(errors: Errors, value: Any, path: str, constraint: str, *, sensitive: bool = False) -> None:
    if value is None:
        errors.append(f"Value null at '{path}' failed to satisfy constraint: {constraint}")
    elif sensitive:
        errors.append(f"Value at '{path}' failed to satisfy constraint: {constraint}")
    else:
        errors.append(f"Value '{render(value)}' at '{path}' failed to satisfy constraint: {constraint}")


def raise_if_any(errors: Errors, *, error_code: str | None = "INVALID_REQUEST_BODY") -> None:
    if not errors:
        return
    n = len(errors)
    noun = "error" if n == 1 else "errors"
    raise ValidationException(
        f"{n} validation {noun} detected: " + "; ".join(errors),
        error_code=error_code,
        error_code_reason=errors[0] if n == 1 else None,
    )


def compile_shape(shape: Shape, _cache: dict[str, Validator] | None = None) -> Validator:
    """Return ``check(value, path, errors) -> converted value`` for a shape."""
    cache = _cache if _cache is not None else {}
    if shape.name in cache:
        return cache[shape.name]

    # Recursive shapes: register a trampoline before compiling children.
    slot: list[Validator] = []
    cache[shape.name] = lambda v, p, e: slot[0](v, p, e)
    builder = _BUILDERS[shape.type_name]
    fn = builder(shape, cache)
    slot.append(fn)
    cache[shape.name] = fn
    return fn


def contains_sensitive(shape: Shape, _seen: frozenset[str] = frozenset()) -> bool:
    """Whether a value of this shape may hold sensitive data (then it is never echoed)."""
    if shape.metadata.get("sensitive"):
        return True
    if shape.name in _seen:
        return False
    seen = _seen | {shape.name}
    kind = shape.type_name
    if kind == "structure":
        return any(contains_sensitive(m, seen) for m in shape.members.values())
    if kind == "list":
        return contains_sensitive(shape.member, seen)
    if kind == "map":
        return contains_sensitive(shape.key, seen) or contains_sensitive(shape.value, seen)
    return False


def _length_checks(shape: Shape) -> tuple[int | None, int | None]:
    md = shape.metadata
    return md.get("min"), md.get("max")


def _string(shape: Shape, cache: dict[str, Validator]) -> Validator:
    lo, hi = _length_checks(shape)
    pattern_src = shape.metadata.get("pattern")
    pattern = re.compile(pattern_src) if pattern_src else None
    enum = shape.enum or None
    enum_set = frozenset(enum) if enum else None
    enum_text = "[" + ", ".join(enum) + "]" if enum else ""
    sensitive = bool(shape.metadata.get("sensitive"))

    def check(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, str):
            fail(errors, value, path, "Member must be a string", sensitive=sensitive)
            return value
        n = len(value)
        if lo is not None and n < lo:
            fail(errors, value, path, f"Member must have length greater than or equal to {lo}", sensitive=sensitive)
        if hi is not None and n > hi:
            fail(errors, value, path, f"Member must have length less than or equal to {hi}", sensitive=sensitive)
        if pattern is not None and pattern.fullmatch(value) is None:
            fail(errors, value, path, f"Member must satisfy regular expression pattern: {pattern_src}", sensitive=sensitive)
        if enum_set is not None and value not in enum_set:
            fail(errors, value, path, f"Member must satisfy enum value set: {enum_text}", sensitive=sensitive)
        return value

    return check


def _integer(shape: Shape, cache: dict[str, Validator]) -> Validator:
    lo, hi = _length_checks(shape)
    kind = "integer" if shape.type_name == "integer" else "long"

    def check(value: Any, path: str, errors: Errors) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                fail(errors, value, path, f"Member must be an {kind}" if kind == "integer" else "Member must be a long")
                return value
        if lo is not None and value < lo:
            fail(errors, value, path, f"Member must have value greater than or equal to {lo}")
        if hi is not None and value > hi:
            fail(errors, value, path, f"Member must have value less than or equal to {hi}")
        return value

    return check


def _double(shape: Shape, cache: dict[str, Validator]) -> Validator:
    def check(value: Any, path: str, errors: Errors) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(errors, value, path, "Member must be a number")
            return value
        return float(value)

    return check


def _boolean(shape: Shape, cache: dict[str, Validator]) -> Validator:
    def check(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, bool):
            fail(errors, value, path, "Member must be a boolean")
        return value

    return check


def parse_timestamp(value: Any) -> dt.datetime | None:
    """ISO 8601 strings (what botocore sends for this model) or epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    return None


def _timestamp(shape: Shape, cache: dict[str, Validator]) -> Validator:
    def check(value: Any, path: str, errors: Errors) -> Any:
        parsed = parse_timestamp(value)
        if parsed is None:
            fail(errors, value, path, "Member must be a timestamp in ISO 8601 format")
            return value
        return parsed

    return check


def _list(shape: Shape, cache: dict[str, Validator]) -> Validator:
    lo, hi = _length_checks(shape)
    item = compile_shape(shape.member, cache)
    hide = contains_sensitive(shape)

    def check(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, list):
            fail(errors, value, path, "Member must be a list", sensitive=hide and bool(value))
            return value
        n = len(value)
        if lo is not None and n < lo:
            fail(errors, value, path, f"Member must have length greater than or equal to {lo}", sensitive=hide and bool(value))
        if hi is not None and n > hi:
            fail(errors, value, path, f"Member must have length less than or equal to {hi}", sensitive=hide and bool(value))
        out: list[Any] = []
        for i, element in enumerate(value, 1):
            element_path = f"{path}.{i}.member"
            if element is None:
                fail(errors, None, element_path, _NOT_NULL)
                out.append(None)
            else:
                out.append(item(element, element_path, errors))
        return out

    return check


def _map(shape: Shape, cache: dict[str, Validator]) -> Validator:
    lo, hi = _length_checks(shape)
    key_check = compile_shape(shape.key, cache)
    value_check = compile_shape(shape.value, cache)
    hide = contains_sensitive(shape)

    def check(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, dict):
            fail(errors, value, path, "Member must be a map", sensitive=hide and bool(value))
            return value
        n = len(value)
        if lo is not None and n < lo:
            fail(errors, value, path, f"Member must have length greater than or equal to {lo}")
        if hi is not None and n > hi:
            fail(errors, value, path, f"Member must have length less than or equal to {hi}")
        key_errors: Errors = []
        value_errors: Errors = []
        out = {}
        for k, v in value.items():
            sub_k: Errors = []
            key_check(k, path, sub_k)
            key_errors.extend(_constraint_of(e) for e in sub_k)
            sub_v: Errors = []
            if v is None:
                sub_v.append(_NOT_NULL)
            else:
                v = value_check(v, path, sub_v)
            value_errors.extend(_constraint_of(e) for e in sub_v)
            out[k] = v
        if key_errors:
            fail(errors, value, path, "Map keys must satisfy constraint: [" + ", ".join(dict.fromkeys(key_errors)) + "]")
        if value_errors:
            fail(errors, value, path, "Map value must satisfy constraint: [" + ", ".join(dict.fromkeys(value_errors)) + "]")
        return out

    return check


def _constraint_of(message: str) -> str:
    marker = "failed to satisfy constraint: "
    i = message.find(marker)
    return message[i + len(marker):] if i >= 0 else message


def _structure(shape: Shape, cache: dict[str, Validator]) -> Validator:
    members = shape.members
    required = [
        m for m in shape.required_members
        if (shape.name, m) not in OPTIONAL_OVERRIDES
    ]
    checks = {name: (compile_shape(mshape, cache), lower_camel(name)) for name, mshape in members.items()}
    hide = contains_sensitive(shape)

    def check(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, dict):
            fail(errors, value, path or "body", "Member must be a structure", sensitive=hide and bool(value))
            return value
        prefix = f"{path}." if path else ""
        for name in required:
            if value.get(name) is None:
                fail(errors, None, prefix + checks[name][1], _NOT_NULL)
        out = {}
        for name, v in value.items():
            entry = checks.get(name)
            if entry is None:
                fail(errors, v, prefix + lower_camel(str(name)), "Member is not defined by the model of this operation")
                continue
            if v is None:
                continue
            out[name] = entry[0](v, prefix + entry[1], errors)
        return out

    return check


def _blob(shape: Shape, cache: dict[str, Validator]) -> Validator:
    def check(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, str):
            fail(errors, value, path, "Member must be base64 text")
        return value

    return check


_BUILDERS: dict[str, Callable[[Shape, dict[str, Validator]], Validator]] = {
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "double": _double,
    "float": _double,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "list": _list,
    "map": _map,
    "structure": _structure,
    "blob": _blob,
}
