"""Exception classes and the one table that maps them to HTTP status codes."""

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


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


class UnauthorizedError(ServiceError):
    """API_KEY is set and the request did not carry it."""

    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012


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
    UnauthorizedError: 401,
    DeadlineExceededError: 504,
    ClientClosedRequestError: 499,  # nginx's convention
}


def status_for(error: ServiceError) -> int:
    for error_type in type(error).__mro__:
        if error_type in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[error_type]
    return 500


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


def register_exception_handlers(app: FastAPI) -> None:
    async def on_service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return error_response(request, status_for(exc), exc.message, exc.headers or None)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(request, exc.status_code, str(exc.detail), exc.headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, f"Invalid request: {exc.errors()}")

    async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback; the client still gets JSON, never an HTML/text page.
        message = f"Internal error while serving the request: {type(exc).__name__}."
        return error_response(request, 500, message)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(Exception, on_unexpected_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
