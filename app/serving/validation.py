"""Validation helpers every protocol's codec shares: how a JSON value's type is named in a
message, the refusal of fields a body should not have, what a text cell may hold, `top_k`'s range."""

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, StrictStr, ValidationError, ValidationInfo

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


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_body(model: type[ModelT], body: object) -> ModelT:
    """The body as `model`, or a 400 naming the first field that is wrong, where, and what it got."""
    if not isinstance(body, dict):
        raise InvalidRequestError(f"The body must be a JSON object; got {json_type(body)}.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field, *inside = error["loc"] or ("",)
        # Past the field, a location names a list index, a nested field, or a branch of a union
        # (`str`, `list[int]`, a model's class name): pydantic's message is then that branch's, so
        # the field's own description says what fits.
        branches = [part for part in inside if isinstance(part, str) and _is_union_branch(part)]
        where = ".".join(str(part) for part in [field, *inside] if part not in branches)
        description = model.model_fields[str(field)].description if str(field) in model.model_fields else None
        if error["type"] == "extra_forbidden":
            expected = ", ".join(f"'{name}'" for name in model.model_fields)
            raise InvalidRequestError(f"Unknown field '{where}'; expected {expected}.") from None
        if error["type"] == "missing":
            raise InvalidRequestError(f"The body has no '{where}'.") from None
        got = json_type(error["input"]) if isinstance(error["input"], dict | list) else repr(error["input"])
        if description and branches:
            raise InvalidRequestError(f"'{where}' must be {description}; got {got}.") from None
        raise InvalidRequestError(f"'{where}': {error['msg']}; got {got}.") from None


def _is_union_branch(part: str) -> bool:
    return part in ("str", "int", "float", "bool", "none") or "[" in part or part[:1].isupper()
