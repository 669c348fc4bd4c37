"""A pydantic model's JSON schema with its `$defs` inlined, for a route that parses its body itself
(to word its own errors) yet wants the body's schema on the OpenAPI page: a schema given in
`openapi_extra` cannot point into the document's components, so it must hold everything."""

from typing import Any

from pydantic import BaseModel

DEFS_PREFIX = "#/$defs/"


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith(DEFS_PREFIX):
                siblings = {key: resolve(value) for key, value in node.items() if key != "$ref"}
                return {**resolve(definitions[reference.removeprefix(DEFS_PREFIX)]), **siblings}
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def json_request_body(model: type[BaseModel], example: Any) -> dict[str, Any]:
    """`openapi_extra` for a route that parses `model` itself: its inlined schema and an example."""
    content = {"schema": inline_schema(model), "example": example}
    return {"requestBody": {"required": True, "content": {"application/json": content}}}
