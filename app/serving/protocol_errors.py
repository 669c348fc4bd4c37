"""Errors as `{"error": "..."}`, the shape of the Open Inference Protocol (tritonclient reads that
key) and of Hugging Face's Inference API and TEI (huggingface_hub puts it in the exception it
raises); the app's handlers answer Azure's `{"message": ...}`. A route class for those routers
turns the same exceptions, with the same status codes (`app.errors`), into this shape, so routes
keep no try/except of their own.
"""

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import ServiceError, status_for

logger = logging.getLogger(__name__)


def protocol_error(status_code: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"error": message}, headers=headers or None)


class ErrorKeyRoute(APIRoute):
    """A route whose errors are `{"error": ...}`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer_errors_as_protocol(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as exc:
                return protocol_error(status_for(exc), exc.message, exc.headers)
            except StarletteHTTPException as exc:
                return protocol_error(exc.status_code, str(exc.detail), exc.headers)
            except RequestValidationError as exc:
                return protocol_error(400, f"Invalid request: {exc.errors()}")
            except Exception as exc:
                logger.exception("Unexpected error on %s", request.url.path)
                return protocol_error(500, f"Internal error while serving the request: {type(exc).__name__}.")

        return answer_errors_as_protocol
