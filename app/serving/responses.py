"""The bodies of the routes that answer as Azure ML does: JSON as `json.dumps` writes it, byte for
byte, and errors as `{"message": ...}` (the other protocols' `{"error"}`: `protocol_errors`)."""

import json
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class AzureJSONResponse(JSONResponse):
    """json.dumps with its default separators, as Azure's scorer answers: byte-identical bodies."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode("utf-8")


class ErrorResponse(BaseModel):
    message: str = Field(
        examples=["Input 1 has no mask: write [MASK] (any case) or <mask> where the word goes."]
    )
