"""The Detective API on the wire: botocore's model routes, parses, validates and serializes.

    request ─> body (capped) ─> identity (SigV4) ─> router ─> codec.parse (validate)
        ─> api function (one transaction) ─> codec.serialize ─> audit record

Every failure on the way becomes an AWS-shaped error; an unexpected one is logged with its
traceback and answered as InternalServerException, never a traceback on the wire.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from gumshoe.api._context import Context, Services
from gumshoe.api.registry import HANDLERS, READ_ONLY
from gumshoe.audit import AuditTrail
from gumshoe.clock import now_ms
from gumshoe.errors import DetectiveError, InternalServerException, UnsupportedMediaTypeException
from gumshoe.identity.accounts import Caller
from gumshoe.protocol.model import operations
from gumshoe.protocol.parser import OperationCodec
from gumshoe.protocol.router import Router
from gumshoe.protocol.serializer import error_body, iso8601
from gumshoe.web.asgi import Receive, Request, Send, identify_request, send_bytes

log = logging.getLogger("gumshoe.server")

# Bodies botocore, the AWS CLI and the SDKs send for rest-json; no type at all is fine too.
ACCEPTED_CONTENT_TYPES = frozenset(
    {"application/json", "application/x-amz-json-1.0", "application/x-amz-json-1.1", "text/plain", "binary/octet-stream"}
)
SENSITIVE_PARAMETERS = frozenset({"accounts.emailAddress", "message"})


class AwsApi:
    def __init__(self, services: Services, audit: AuditTrail, jobs_due: Callable[[], None]) -> None:
        self.services = services
        self.audit = audit
        self.jobs_due = jobs_due  # an operation left background jobs due: run them after the answer
        self.router = Router()
        self.codecs = {op.name: OperationCodec(op) for op in operations()}

    async def handle(self, request: Request, receive: Receive, send: Send) -> None:
        operation = None
        params: dict[str, Any] | None = None
        caller = None
        try:
            await request.read_body(receive)
            caller = identify_request(self.services.settings, self.services.directory, request)
            route = self.router.match(request.method, request.path)
            operation = route.operation.name
            codec = self.codecs[operation]
            _check_content_type(request.headers, request.body)
            params = codec.parse(route.labels, request.query_string, request.body)
            ctx = Context(caller=caller, services=self.services, now_ms=now_ms())
            result = HANDLERS[operation](ctx, params)
            payload = codec.serialize(result)
            status = codec.status
            if ctx.jobs_due:
                self.jobs_due()
            error: DetectiveError | None = None
        except DetectiveError as exc:
            error = exc
        except Exception:
            log.exception("unexpected fault request_id=%s operation=%s", request.request_id, operation)
            error = InternalServerException("An internal error occurred. The request may be retried.")
        if error is not None:
            status, payload = error_body(error)
            log.info("request_id=%s operation=%s status=%d error=%s", request.request_id, operation, status, error.code)
        await send_bytes(send, status, payload, request.request_id, error_type=error.code if error else None)
        if operation is not None and caller is not None:
            self.record_call(caller, operation, params, error, request.request_id, request.client_ip)

    def record_call(self, caller: Caller, operation: str, params: dict[str, Any] | None, error: DetectiveError | None,
                    request_id: str, source_ip: str | None) -> None:
        """The call's CloudTrail record (the API's own, and the console's calls of it)."""
        self.audit.record(
            account_id=caller.account_id, region=caller.region, event_name=operation,
            event_time=dt.datetime.now(dt.UTC), request_id=request_id, source_ip=source_ip,
            user_agent=caller.user_agent, access_key_id=caller.access_key_id,
            request_parameters=_audit_params(params) if params else None,
            response_elements=None,
            error_code=error.code if error is not None else None,
            error_message=error.message if error is not None else None,
            read_only=operation in READ_ONLY, sensitive_paths=SENSITIVE_PARAMETERS,
        )


def _check_content_type(headers: dict[str, str], body: bytes) -> None:
    content_type = headers.get("content-type")
    if content_type is None or not body:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in ACCEPTED_CONTENT_TYPES:
        raise UnsupportedMediaTypeException(
            f"Content-Type {media} is not supported: send the request body as JSON (application/json)."
        )


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def _audit_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso8601(value)
    if isinstance(value, list):
        return [_audit_value(v) for v in value]
    if isinstance(value, dict):
        return {_camel(k): _audit_value(v) for k, v in value.items()}
    return value


def _audit_params(params: dict[str, Any]) -> dict[str, Any]:
    """Request parameters as CloudTrail writes them: lowerCamel names (tag keys kept as given)."""
    out = {}
    for key, value in params.items():
        out[_camel(key)] = dict(value) if key == "Tags" else _audit_value(value)
    return out
