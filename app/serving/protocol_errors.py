"""Errors as `{"error": "..."}`, the shape of the Open Inference Protocol (tritonclient reads that
key) and of Hugging Face's Inference API (huggingface_hub puts it in the exception it raises).
Azure's routes answer `{"message": ...}`, TEI's add `error_type`, OpenAI's nest an error object.
The app's one set of exception handlers (`app.errors`) reads `error_body` from the route that
matched, so these routers only name it.
"""

from fastapi.routing import APIRoute
from pydantic import BaseModel, Field


def error_body(status_code: int, message: str) -> dict[str, object]:
    return {"error": message}


class ErrorKeyRoute(APIRoute):
    """A route whose errors are `{"error": ...}`."""

    error_body = staticmethod(error_body)


class ProtocolError(BaseModel):
    """The error body of these routes, for their OpenAPI `responses`."""

    error: str = Field(examples=["Unknown model 'bert'; this server serves 'bert-base-cased'."])


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": ProtocolError} for code in codes}
