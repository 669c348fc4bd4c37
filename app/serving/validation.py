"""Validation helpers every protocol's codec shares: how a JSON value's type is named in a
message, and the refusal of fields a body should not have."""

from collections.abc import Sequence
from typing import Any

from app.errors import InvalidRequestError


def json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def reject_unknown(fields: dict[str, Any], known: Sequence[str], where: str) -> None:
    unknown = [name for name in fields if name not in known]
    if unknown:
        expected = ", ".join(f"'{name}'" for name in known)
        raise InvalidRequestError(f"Unknown field '{unknown[0]}' in {where}; expected {expected}.")
