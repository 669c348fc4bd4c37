"""Validation helpers every protocol's codec shares: how a JSON value's type is named in a
message, the refusal of fields a body should not have, what a text cell may hold, `top_k`'s range."""

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictStr, ValidationInfo

from app.errors import InvalidRequestError


def json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def reject_unknown(fields: dict[str, Any], known: Sequence[str], where: str) -> None:
    unknown = [name for name in fields if name not in known]
    if unknown:
        expected = ", ".join(f"'{name}'" for name in known)
        raise InvalidRequestError(f"Unknown field '{unknown[0]}' in {where}; expected {expected}.")


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("is empty")
    return text


# What one cell of a column may hold, per task.
Text = StrictStr
NonBlankText = Annotated[StrictStr, AfterValidator(_not_blank)]
Tokens = Annotated[list[NonBlankText], Field(min_length=1)]
NerCell = Text | Tokens


def check_top_k(value: object, info: ValidationInfo) -> object:
    """Strict: an integer from 1 to MAX_TOP_K (passed as validation context), never 2.5, "3" or true."""
    max_top_k = (info.context or {}).get("max_top_k", 100)
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_top_k:
        raise ValueError(f"'top_k' must be an integer from 1 to {max_top_k}; got {value!r}.")
    return value
