"""The one table from the server's errors, by their HTTP status (`app.errors.STATUS_BY_ERROR`), to
gRPC status codes: a gRPC client sees the same verdict a REST client would, in its own terms."""

import grpc
from fastapi import HTTPException

from app.errors import ServiceError, exception_text, status_for

GRPC_CODE_BY_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,  # model control is off
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.INVALID_ARGUMENT,  # over a limit on inputs: split the request, not retry it
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,  # at capacity, or the queue is full: retry
    499: grpc.StatusCode.CANCELLED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def http_status_of(exc: BaseException) -> int:
    if isinstance(exc, ServiceError):
        return status_for(exc)
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


def grpc_code_for(status: int) -> grpc.StatusCode:
    return GRPC_CODE_BY_STATUS.get(status, grpc.StatusCode.INTERNAL)


def error_text(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, HTTPException):
        return str(exc.detail)
    return exception_text(exc)
