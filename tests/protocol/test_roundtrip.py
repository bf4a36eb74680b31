"""Wire round trips against botocore, for every operation and every error shape of the model.

    botocore serializer ──request──> Router + OperationCodec.parse   (params survive)
    OperationCodec.serialize ──response──> botocore rest-json parser (results survive)
    error_body ──error response──> botocore rest-json parser         (code, message, members)

Example values are generated from the model's shapes, so a member added to the model is
covered without touching this file; the few pattern-constrained string shapes have
hand-picked values (and a guard test fails if the model grows a pattern we do not know).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import botocore.parsers
import botocore.serialize
import botocore.session
import orjson
import pytest
from botocore.model import OperationModel, Shape
from botocore.utils import percent_encode_sequence

from gumshoe import errors as errors_module
from gumshoe.protocol.parser import OperationCodec
from gumshoe.protocol.router import Router
from gumshoe.protocol.serializer import error_body

SERVICE = botocore.session.get_session().get_service_model("detective")
OPERATION_NAMES = list(SERVICE.operation_names)
OUTPUT_OPERATIONS = [n for n in OPERATION_NAMES if SERVICE.operation_model(n).output_shape is not None]
ERROR_SHAPES = sorted(
    n for n in SERVICE.shape_names if SERVICE.shape_for(n).metadata.get("exception")
)
UTC = dt.UTC
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# --- Example values generated from shapes ---------------------------------------------

# Values for string shapes that carry a pattern. ``i`` makes list elements and map keys distinct.
PATTERN_VALUES = {
    "GraphArn": lambda i: "arn:aws:detective:us-east-1:111111111111:graph:" + f"{i:032x}".replace("0", "a"),
    "AccountId": lambda i: str(111111111111 + i),
    "EmailAddress": lambda i: f"user.{i}@mail.example.com",
    "TagKey": lambda i: f"team+ops:cost-center/{i}",
    "InvestigationId": lambda i: str(100000000000000000000 + i),
    "EntityArn": lambda i: "arn:aws:iam::111111111111:user/alice" if i % 2 == 0 else "arn:aws:iam::111111111111:role/bob",
}


VARIANTS = ("low", "high", "required")


class Example:
    """Builds example values for a shape.

    ``variant`` is "low" (smallest legal sizes, False, first enum values, empty strings where
    allowed), "high" (longest legal strings, largest integers, True, last enum values, several
    list elements and map entries) or "required" ("low" values, required members only). ``ms_only`` keeps timestamps to milliseconds (responses).
    """

    def __init__(self, variant: str, *, ms_only: bool = False) -> None:
        assert variant in VARIANTS
        self.high = variant == "high"
        self.required_only = variant == "required"
        self.ms_only = ms_only

    def value(self, shape: Shape, i: int = 0, depth: int = 0) -> Any:
        assert depth < 20, f"runaway recursion at {shape.name}"
        kind = shape.type_name
        if kind == "structure":
            members = shape.members.items()  # type: ignore[attr-defined]
            required = set(shape.required_members)  # type: ignore[attr-defined]
            return {
                name: self.value(m, i, depth + 1)
                for name, m in members
                if not self.required_only or name in required
            }
        if kind == "list":
            n = self._count(shape)
            return [self.value(shape.member, i + k, depth + 1) for k in range(n)]  # type: ignore[attr-defined]
        if kind == "map":
            n = self._count(shape)
            key_shape = shape.key  # type: ignore[attr-defined]
            if key_shape.enum:
                n = min(n, len(key_shape.enum))
            out = {}
            for k in range(n):
                out[self._string(key_shape, i + k, key=True)] = self.value(shape.value, i + k, depth + 1)  # type: ignore[attr-defined]
            assert len(out) == n
            return out
        if kind == "string":
            return self._string(shape, i)
        if kind in ("integer", "long"):
            lo = shape.metadata.get("min")
            hi = shape.metadata.get("max")
            if self.high:
                return hi if hi is not None else (2**40 + i if kind == "long" else 100_000 + i)
            return lo if lo is not None else i
        if kind in ("double", "float"):
            return 97.25 if self.high else 0.5
        if kind == "boolean":
            return self.high
        if kind == "timestamp":
            if self.high:
                micro = 284_000 if self.ms_only else 284_123
                return dt.datetime(2021, 8, 18, 16, 35, 56, micro, tzinfo=UTC) + dt.timedelta(minutes=i)
            return dt.datetime(2020, 2, 29, 0, 0, 0, tzinfo=UTC) + dt.timedelta(days=i)
        raise AssertionError(f"no example for {kind} shape {shape.name}")

    def _count(self, shape: Shape) -> int:
        lo = shape.metadata.get("min") or 0
        hi = shape.metadata.get("max")
        n = 3 if self.high else max(lo, 1)
        if hi is not None:
            n = min(n, hi)
        return max(n, lo)

    def _string(self, shape: Shape, i: int, key: bool = False) -> str:
        if shape.enum:
            values = list(shape.enum)
            if key:
                return values[i % len(values)] if not self.high else values[-1 - i % len(values)]
            return values[-1] if self.high else values[0]
        if shape.metadata.get("pattern"):
            make = PATTERN_VALUES.get(shape.name)
            assert make is not None, f"pattern shape {shape.name} needs a hand-picked value"
            return make(i)
        lo = shape.metadata.get("min") or 0
        hi = shape.metadata.get("max")
        if self.high:
            base = f"{shape.name} #{i} é ✓ \"quoted\" / & ? = %20 +"
            length = hi if hi is not None else len(base)
        else:
            base = f"{i}"
            length = lo if not key else max(lo, len(base))
        text = (base * (length // max(len(base), 1) + 1))[:length]
        return text


def example_input(op: OperationModel, variant: str) -> dict[str, Any]:
    if op.input_shape is None:
        return {}
    return Example(variant).value(op.input_shape)  # type: ignore[no-any-return]


def example_output(op: OperationModel, variant: str) -> dict[str, Any]:
    assert op.output_shape is not None
    return Example(variant, ms_only=True).value(op.output_shape)  # type: ignore[no-any-return]


def assert_same(expected: Any, actual: Any, path: str = "$") -> None:
    """Deep equality that also checks types (True is not 1) and UTC datetimes."""
    if isinstance(expected, dt.datetime):
        assert isinstance(actual, dt.datetime), f"{path}: {actual!r} is not a datetime"
        assert actual.tzinfo is not None and actual.utcoffset() == dt.timedelta(0), f"{path}: {actual!r} is not UTC"
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
        return
    assert type(actual) is type(expected), f"{path}: {type(actual).__name__} {actual!r} != {type(expected).__name__} {expected!r}"
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for k in expected:
            assert_same(expected[k], actual[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for n, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{path}[{n}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def query_bytes(query: Any) -> bytes:
    if isinstance(query, dict):
        return percent_encode_sequence(query).encode("ascii") if query else b""
    return (query or "").encode("ascii")


def _walk_strings(shape: Shape, value: Any) -> list[tuple[Shape, Any]]:
    out = [(shape, value)]
    if shape.type_name == "structure":
        for name, m in shape.members.items():  # type: ignore[attr-defined]
            if name in value:
                out += _walk_strings(m, value[name])
    elif shape.type_name == "list":
        for v in value:
            out += _walk_strings(shape.member, v)  # type: ignore[attr-defined]
    elif shape.type_name == "map":
        for k, v in value.items():
            out += _walk_strings(shape.key, k) + _walk_strings(shape.value, v)  # type: ignore[attr-defined]
    return out


# --- The generator itself -------------------------------------------------------------


def test_model_has_29_operations_and_every_pattern_shape_has_an_example() -> None:
    assert len(OPERATION_NAMES) == 29
    patterned = {n for n in SERVICE.shape_names if SERVICE.shape_for(n).metadata.get("pattern")}
    assert patterned <= set(PATTERN_VALUES), f"add hand-picked values for {patterned - set(PATTERN_VALUES)}"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", OPERATION_NAMES)
def test_generated_inputs_satisfy_the_model(name: str, variant: str) -> None:
    """Guards the generator: every example string obeys min/max/pattern/enum of its shape."""
    op = SERVICE.operation_model(name)
    if op.input_shape is None:
        return
    params = example_input(op, variant)
    for shape, value in _walk_strings(op.input_shape, params):
        md = shape.metadata
        if shape.type_name == "string":
            assert md.get("min", 0) <= len(value) <= md.get("max", 10**9), (shape.name, value)
            if md.get("pattern"):
                assert re.fullmatch(md["pattern"], value), (shape.name, value)
            if shape.enum:
                assert value in shape.enum
        if shape.type_name in ("list", "map"):
            assert md.get("min", 0) <= len(value) <= md.get("max", 10**9), (shape.name, value)


# --- 1a. botocore request -> Router -> OperationCodec.parse ----------------------------

ROUTER = Router()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", OPERATION_NAMES)
def test_botocore_request_parses_back_to_the_same_params(name: str, variant: str) -> None:
    op = SERVICE.operation_model(name)
    params = example_input(op, variant)
    request = botocore.serialize.create_serializer("rest-json").serialize_to_request(params, op)

    route = ROUTER.match(request["method"], request["url_path"])
    assert route.operation.name == name

    codec = OperationCodec(route.operation)
    parsed = codec.parse(route.labels, query_bytes(request["query_string"]), request["body"])
    assert_same(params, parsed)


def test_round_trip_covers_labels_query_lists_timestamps_and_maps() -> None:
    """The generic round trip really exercises the interesting wire locations."""
    params = example_input(SERVICE.operation_model("UntagResource"), "high")
    request = botocore.serialize.create_serializer("rest-json").serialize_to_request(
        params, SERVICE.operation_model("UntagResource")
    )
    assert "%3A" in request["url_path"]  # the ARN label is percent-encoded on the wire
    assert len(params["TagKeys"]) == 3 and "+" in params["TagKeys"][0]  # '+' must not become ' '
    assert b"%2B" in query_bytes(request["query_string"])
    start = example_input(SERVICE.operation_model("StartInvestigation"), "high")
    assert start["ScopeStartTime"].microsecond == 284_123


# --- 1b. OperationCodec.serialize -> botocore response parser --------------------------


def _timestamps(shape: Shape, value: Any, raw: Any, path: str = "$") -> list[tuple[str, dt.datetime, Any]]:
    """(path, expected datetime, raw JSON value) for every timestamp of an output."""
    kind = shape.type_name
    if kind == "timestamp":
        return [(path, value, raw)]
    found: list[tuple[str, dt.datetime, Any]] = []
    if kind == "structure":
        for name, m in shape.members.items():  # type: ignore[attr-defined]
            if name in value:
                found += _timestamps(m, value[name], raw[m.serialization.get("name", name)], f"{path}.{name}")
    elif kind == "list":
        for n, v in enumerate(value):
            found += _timestamps(shape.member, v, raw[n], f"{path}[{n}]")  # type: ignore[attr-defined]
    elif kind == "map":
        for k, v in value.items():
            found += _timestamps(shape.value, v, raw[k], f"{path}.{k}")  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", OUTPUT_OPERATIONS)
def test_serialized_result_parses_in_botocore(name: str, variant: str) -> None:
    op = SERVICE.operation_model(name)
    result = example_output(op, variant)
    codec = OperationCodec(op)
    payload = codec.serialize(result)
    assert codec.status == int(op.http.get("responseCode", 200))

    parsed = botocore.parsers.create_parser("rest-json").parse(
        {"status_code": codec.status, "headers": {"content-type": "application/json"}, "body": payload},
        op.output_shape,
    )
    parsed.pop("ResponseMetadata", None)
    if codec.status == 204:
        assert payload == b""
        assert parsed == {}
        return
    assert_same(result, parsed)

    raw = orjson.loads(payload)
    stamps = _timestamps(op.output_shape, result, raw)
    for path, expected, text in stamps:
        assert isinstance(text, str) and ISO_MS.match(text), f"{path}: {text!r}"
        assert text == expected.strftime("%Y-%m-%dT%H:%M:%S.") + f"{expected.microsecond // 1000:03d}Z", path


def test_timestamp_wire_form_in_a_known_response() -> None:
    op = SERVICE.operation_model("GetInvestigation")
    created = dt.datetime(2021, 8, 18, 16, 35, 56, 284_000, tzinfo=UTC)
    payload = OperationCodec(op).serialize({"CreatedTime": created, "ScopeStartTime": dt.datetime(2021, 8, 18, tzinfo=UTC)})
    assert orjson.loads(payload) == {
        "CreatedTime": "2021-08-18T16:35:56.284Z",
        "ScopeStartTime": "2021-08-18T00:00:00.000Z",
    }


# --- 1c. error_body -> botocore error parsing ------------------------------------------


def _error_instance(code: str) -> tuple[errors_module.DetectiveError, dict[str, Any]]:
    cls = getattr(errors_module, code, None)
    assert cls is not None and issubclass(cls, errors_module.DetectiveError), f"no error class for {code}"
    message = f"{code}: something went wrong ✓"
    if code == "ValidationException":
        reason = "Value 'x' at 'graphArn' failed to satisfy constraint: Member must satisfy regular expression pattern"
        return cls(message, error_code="INVALID_GRAPH_ARN", error_code_reason=reason), {
            "ErrorCode": "INVALID_GRAPH_ARN", "ErrorCodeReason": reason,
        }
    if code == "AccessDeniedException":
        members = {
            "ErrorCode": "INVALID_REQUEST_BODY", "ErrorCodeReason": "The caller is not the administrator.",
            "SubErrorCode": "INTERNAL_ERROR", "SubErrorCodeReason": "sub reason",
        }
        return cls(message, **members), members
    if code == "ServiceQuotaExceededException":
        return cls(message, resources=["123456789012", "Members"]), {"Resources": ["123456789012", "Members"]}
    return cls(message), {}


@pytest.mark.parametrize("code", ERROR_SHAPES)
def test_error_body_parses_in_botocore(code: str) -> None:
    error, members = _error_instance(code)
    assert error.code == code
    status, body = error_body(error)
    shape = SERVICE.shape_for(code)
    assert status == shape.metadata["error"]["httpStatusCode"]

    response = {"status_code": status, "headers": {"x-amzn-errortype": code}, "body": body}
    parser = botocore.parsers.create_parser("rest-json")
    generic = parser.parse(response, None)
    assert generic["Error"]["Code"] == code
    assert generic["Error"]["Message"] == error.message
    assert generic["ResponseMetadata"]["HTTPStatusCode"] == status

    modeled = botocore.parsers.create_parser("rest-json").parse(response, shape)
    assert modeled.get("Message") == error.message
    for key, value in members.items():
        assert modeled.get(key) == value, key
    extra = set(modeled) - {"Message"} - set(members)
    assert not extra, f"unexpected members {extra}"


def test_error_shapes_cover_the_model() -> None:
    assert ERROR_SHAPES == [
        "AccessDeniedException", "ConflictException", "InternalServerException", "ResourceNotFoundException",
        "ServiceQuotaExceededException", "TooManyRequestsException", "ValidationException",
    ]
