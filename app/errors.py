"""Exception classes, the one table that maps them to HTTP status codes, and what their public
text may say."""

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of every error the service answers to a client."""

    headers: dict[str, str] = {}  # noqa: RUF012 - read-only per class

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(ServiceError):
    """The request body does not follow the /score contract."""


class InvalidInputError(ServiceError):
    """One input cannot be scored (no mask, too long, ...); the message names its index."""


class ModelNotReadyError(ServiceError):
    """The model is still loading or failed to load."""


class UnknownModelError(ServiceError):
    """A request names a model this server does not serve."""


class ModelLoadError(ServiceError):
    """The checkpoint could not be loaded; the message says what to do."""


class QueueFullError(ServiceError):
    """More inputs wait for the model than the queue holds."""

    headers = {"Retry-After": "1"}  # noqa: RUF012


class EngineStoppedError(ServiceError):
    """The inference worker is not running (shutting down, or it died)."""


class PayloadTooLargeError(ServiceError):
    """The body, or its number of inputs, is over the configured limit."""


class AtCapacityError(ServiceError):
    """MAX_CONCURRENT_REQUESTS requests are in flight (or MAX_PENDING_BODIES bodies arriving)."""

    headers = {"Retry-After": "1"}  # noqa: RUF012


class RequestTimeoutError(ServiceError):
    """The client did not send its request (headers or body) in time; the connection closes."""

    headers = {"Connection": "close"}  # noqa: RUF012


class ModelControlDisabledError(ServiceError):
    """A load or unload while MODEL_CONTROL=none."""


class UnsupportedMediaTypeError(ServiceError):
    """A model-control body that is not application/json."""


class DeadlineExceededError(ServiceError):
    """The request's deadline passed before its inputs were computed."""


class ClientClosedRequestError(ServiceError):
    """The client went away before the answer; nobody reads this one but logs and metrics."""


STATUS_BY_ERROR: dict[type[ServiceError], int] = {
    InvalidRequestError: 400,
    InvalidInputError: 400,
    ModelNotReadyError: 503,
    UnknownModelError: 404,
    ModelLoadError: 503,
    QueueFullError: 429,
    EngineStoppedError: 503,
    PayloadTooLargeError: 413,
    AtCapacityError: 429,
    RequestTimeoutError: 408,
    ModelControlDisabledError: 403,
    UnsupportedMediaTypeError: 415,
    DeadlineExceededError: 504,
    ClientClosedRequestError: 499,  # nginx's convention
}


def status_for(error: ServiceError) -> int:
    for error_type in type(error).__mro__:
        if error_type in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[error_type]
    return 500


# An absolute path of two parts or more (one part says no more than its name, and keeps routes
# such as /score whole); not the path of a URL (`https://host/a/b`), nor a relative one (`org/model`).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/\\-])(?:/[^\s/'\"`,;:()\[\]{}<>]+){2,}/?")
# `ValueError: ...`, as `exception_text` writes it, dotted module or not: Python's naming convention.
_EXCEPTION_NAME = re.compile(
    r"(?<![\w.])(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Warning|Interrupt|Exit|Iteration):(?: |$)"
)


def exception_text(exc: BaseException) -> str:
    """An unexpected exception in a reason: `ClassName: message` (`public_text` drops the class)."""
    return f"{type(exc).__name__}: {str(exc) or 'no message'}"


def public_text(text: str, expose_details: bool, *, client_path: str = "") -> str:
    """Text bound for a response body. Unless EXPOSE_DETAILS is on, an absolute path becomes its last
    part and an exception's class name goes; the server's log keeps both. `client_path`: the request's
    own URL path, which the client sent and which stays."""
    if expose_details:
        return text
    text = _ABSOLUTE_PATH.sub(
        lambda match: match[0] if match[0] in client_path else match[0].rstrip("/").rsplit("/", 1)[-1], text
    )
    return _EXCEPTION_NAME.sub("", text)


def public_json(value: Any, expose_details: bool) -> Any:
    """`public_text` on every string of a JSON body (not its keys)."""
    if isinstance(value, str):
        return public_text(value, expose_details)
    if isinstance(value, list):
        return [public_json(item, expose_details) for item in value]
    if isinstance(value, dict):
        return {key: public_json(item, expose_details) for key, item in value.items()}
    return value


def azure_error_body(status_code: int, message: str) -> dict[str, object]:
    """Azure's inference server answers errors as {"message": "..."}."""
    return {"message": message}


def error_response(
    request: Request, status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The error in the shape of the matched route's protocol: the route's `error_body(status,
    message)` ({"error": ...} for /v2, /v1, POST / and TEI; OpenAI's nested object), else Azure's."""
    shape = getattr(request.scope.get("route"), "error_body", azure_error_body)
    return JSONResponse(status_code=status_code, content=shape(status_code, message), headers=headers)


def _expose_details(request: Request) -> bool:
    return bool(request.app.state.settings.expose_details)


def _public(request: Request, message: str) -> str:
    return public_text(message, _expose_details(request), client_path=request.url.path)


def register_exception_handlers(app: FastAPI) -> None:
    async def on_service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return error_response(request, status_for(exc), _public(request, exc.message), exc.headers or None)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(request, exc.status_code, _public(request, str(exc.detail)), exc.headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, f"Invalid request: {exc.errors()}")

    async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback; the client still gets JSON, never an HTML/text page.
        request_id = getattr(request.state, "request_id", None)
        logger.error("Request %s failed: %s", request_id, exception_text(exc))
        if _expose_details(request):
            message = f"Internal error while serving the request: {type(exc).__name__}."
        else:
            of_request = f" (request id {request_id})" if request_id is not None else ""
            message = (
                f"Internal error while serving the request{of_request}; the server's log has the details."
            )
        return error_response(request, 500, message)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(Exception, on_unexpected_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
