"""Errors of the Detective API, as values of the domain.

Each class is named after the error shape (or AWS's unmodeled error code) it answers with.
The HTTP status of a modeled error comes from botocore's model (see
``protocol.model.error_status``); ``status`` here is the fallback for codes the model does
not declare (protocol and authentication errors).
"""

from __future__ import annotations

from typing import Any


class DetectiveError(Exception):
    """An error that reaches the client as an AWS-shaped response."""

    code: str = "InternalServerException"
    status: int = 500
    sender_fault: bool = True

    def __init__(self, message: str, **members: Any) -> None:
        super().__init__(message)
        self.message = message
        # Extra modeled members of the error shape (ErrorCode, Resources, ...).
        self.members = {k: v for k, v in members.items() if v is not None}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ValidationException(DetectiveError):
    code = "ValidationException"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        error_code_reason: str | None = None,
    ) -> None:
        super().__init__(message, ErrorCode=error_code, ErrorCodeReason=error_code_reason)


class AccessDeniedException(DetectiveError):
    code = "AccessDeniedException"
    status = 403


class ResourceNotFoundException(DetectiveError):
    code = "ResourceNotFoundException"
    status = 404


class ConflictException(DetectiveError):
    code = "ConflictException"
    status = 409


class ServiceQuotaExceededException(DetectiveError):
    code = "ServiceQuotaExceededException"
    status = 402

    def __init__(self, message: str, *, resources: list[str] | None = None) -> None:
        super().__init__(message, Resources=resources)


class TooManyRequestsException(DetectiveError):
    code = "TooManyRequestsException"
    status = 429


class InternalServerException(DetectiveError):
    code = "InternalServerException"
    status = 500
    sender_fault = False


# --- Errors the model does not declare: protocol and authentication. -------------------


class SerializationException(DetectiveError):
    """The body is not JSON, or not a JSON object (AWS's code for unreadable bodies)."""

    code = "SerializationException"
    status = 400


class UnknownOperationException(DetectiveError):
    code = "UnknownOperationException"
    status = 404


class MethodNotAllowedException(DetectiveError):
    code = "MethodNotAllowedException"
    status = 405


class UnsupportedMediaTypeException(DetectiveError):
    code = "UnsupportedMediaTypeException"
    status = 415


class RequestEntityTooLargeException(DetectiveError):
    code = "RequestEntityTooLargeException"
    status = 413


class NotImplementedYetException(DetectiveError):
    """An operation of the model that Gumshoe does not serve yet.

    501 is not retried by botocore's retry handlers, so clients fail fast with a clear code.
    """

    code = "NotImplementedException"
    status = 501
    sender_fault = False


class MissingAuthenticationTokenException(DetectiveError):
    code = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignatureException(DetectiveError):
    code = "IncompleteSignatureException"
    status = 403


class UnrecognizedClientException(DetectiveError):
    code = "UnrecognizedClientException"
    status = 403


class InvalidSignatureException(DetectiveError):
    code = "InvalidSignatureException"
    status = 403
