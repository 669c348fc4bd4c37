"""The /score contract: turn a decoded JSON body into a ScoreJob and predictions into Azure's answer.

Every rejection names the field, and for a bad input its index, so a client can fix it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.errors import InvalidRequestError, PayloadTooLargeError

PAYLOAD_KEYS = ("input_data", "inputs")
PARAMETER_KEYS = ("parameters", "params")
KNOWN_PARAMETERS = ("top_k",)


class Candidate(Protocol):
    @property
    def token_str(self) -> str: ...
    @property
    def token(self) -> int: ...
    @property
    def score(self) -> float: ...


@dataclass(frozen=True)
class ScoreJob:
    inputs: list[str]
    top_k: int | None
    plain_list: bool  # the inputs came as a plain list, so the answer is one too


def json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def parse_score_request(body: object, max_top_k: int, max_inputs: int | None = None) -> ScoreJob:
    if not isinstance(body, dict):
        raise InvalidRequestError(
            "The body must be a JSON object such as "
            '{"input_data": {"input_string": ["Paris is the [MASK] of France."]}}; '
            f"got {json_type(body)}."
        )
    _reject_unknown(body, PAYLOAD_KEYS + PARAMETER_KEYS, "the body")
    present = [key for key in PAYLOAD_KEYS if key in body]
    if not present:
        raise InvalidRequestError(
            "Missing 'input_data' (or 'inputs'): send "
            '{"input_data": {"input_string": ["Paris is the [MASK] of France."]}}.'
        )
    if len(present) > 1:
        raise InvalidRequestError("Send either 'input_data' or 'inputs', not both.")
    key = present[0]
    payload = body[key]
    parameter_blocks = [(name, body[name]) for name in PARAMETER_KEYS if name in body]

    if isinstance(payload, list):
        raw_inputs, where, plain_list = payload, key, True
    elif isinstance(payload, dict):
        _reject_unknown(payload, ("input_string", *PARAMETER_KEYS), f"'{key}'")
        if "input_string" not in payload:
            raise InvalidRequestError(f"Missing '{key}.input_string': a list of texts with [MASK].")
        raw_inputs, where, plain_list = payload["input_string"], f"{key}.input_string", False
        parameter_blocks += [(f"{key}.{name}", payload[name]) for name in PARAMETER_KEYS if name in payload]
    else:
        raise InvalidRequestError(
            f"'{key}' must be an object with 'input_string' or a list of strings; got {json_type(payload)}."
        )
    if max_inputs is not None and isinstance(raw_inputs, list) and len(raw_inputs) > max_inputs:
        raise PayloadTooLargeError(
            f"'{where}' has {len(raw_inputs)} inputs; the limit is {max_inputs} per request. Split it."
        )
    return ScoreJob(
        inputs=_check_inputs(raw_inputs, where),
        top_k=_parse_parameters(parameter_blocks, max_top_k),
        plain_list=plain_list,
    )


def _reject_unknown(fields: dict[str, Any], known: Sequence[str], where: str) -> None:
    unknown = [name for name in fields if name not in known]
    if unknown:
        expected = ", ".join(f"'{name}'" for name in known)
        raise InvalidRequestError(f"Unknown field '{unknown[0]}' in {where}; expected {expected}.")


def _check_inputs(raw_inputs: object, where: str) -> list[str]:
    if not isinstance(raw_inputs, list):
        raise InvalidRequestError(f"'{where}' must be a list of strings; got {json_type(raw_inputs)}.")
    if not raw_inputs:
        raise InvalidRequestError(f"'{where}' is empty: send at least one text with [MASK].")
    for index, text in enumerate(raw_inputs):
        if not isinstance(text, str):
            raise InvalidRequestError(f"Input {index} must be a string; got {json_type(text)}.")
    return raw_inputs


def _parse_parameters(blocks: list[tuple[str, object]], max_top_k: int) -> int | None:
    top_k: int | None = None
    seen: set[str] = set()
    for where, block in blocks:
        if block is None:
            continue
        if not isinstance(block, dict):
            raise InvalidRequestError(f"'{where}' must be an object; got {json_type(block)}.")
        for name, value in block.items():
            if name not in KNOWN_PARAMETERS:
                raise InvalidRequestError(
                    f"Unknown parameter '{name}' in '{where}'; supported: {', '.join(KNOWN_PARAMETERS)}."
                )
            if name in seen:
                raise InvalidRequestError(f"Parameter '{name}' is given twice.")
            seen.add(name)
            top_k = _check_top_k(value, max_top_k)
    return top_k


def _check_top_k(value: object, max_top_k: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_top_k:
        raise InvalidRequestError(f"'top_k' must be an integer from 1 to {max_top_k}; got {value!r}.")
    return value


def shape_response(job: ScoreJob, predictions: Sequence[Sequence[Sequence[Candidate]]]) -> list[Any]:
    """predictions[input][mask] holds that mask's candidates, best first."""
    if job.top_k is not None:
        return [
            [
                [{"token_str": c.token_str, "token": c.token, "score": c.score} for c in candidates]
                for candidates in masks
            ]
            for masks in predictions
        ]
    answers = [",".join(candidates[0].token_str for candidates in masks) for masks in predictions]
    if job.plain_list:
        return answers
    return [{"0": answer} for answer in answers]
