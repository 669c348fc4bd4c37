"""An infer request as both codecs read it, whatever carried it: the texts by input name, the task's
parameters apart from the protocol's own (`binary_data_output`, `timeout`, the ignored ones), the
outputs asked for; and the checks every codec makes of them."""

from dataclasses import dataclass
from typing import Any

from app.errors import InvalidRequestError
from app.serving.open_inference_core.elements import element_count

# Request parameters of the protocol itself (tritonclient's reserved ones), not of the task.
BINARY_OUTPUT = "binary_data_output"
TIMEOUT = "timeout"
IGNORED_PARAMETERS = ("priority", "sequence_id", "sequence_start", "sequence_end", "headers")


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(frozen=True)
class DecodedRequest:
    id: str | None
    texts: dict[str, list[str]]  # input name -> one text per element, in request order
    parameters: dict[str, Any]  # the task's, validated later by its /score parameter model
    outputs: list[RequestedOutput] | None  # None: every output
    binary_output: bool  # the default of outputs not asked for by name
    timeout_us: int | None


def split_parameters(given: dict[str, Any]) -> tuple[dict[str, Any], bool, int | None]:
    """(the task's parameters, the binary-output default, the client's timeout in µs)."""
    parameters = dict(given)
    binary_output = _flag(parameters.pop(BINARY_OUTPUT, False), f"'parameters.{BINARY_OUTPUT}'")
    timeout_us = _timeout(parameters.pop(TIMEOUT, None))
    for name in IGNORED_PARAMETERS:
        parameters.pop(name, None)
    return parameters, binary_output, timeout_us


def checked_count(shape: list[int], values: list[str], where: str) -> list[str]:
    """A text per element: shape [N], or [N, 1] as Triton's batch dimension writes it."""
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise InvalidRequestError(f"{where} must have shape [N] (or [N, 1]): one text each; got {shape}.")
    if len(values) != element_count(shape):
        raise InvalidRequestError(
            f"{where} has shape {shape}, so {element_count(shape)} elements; its data holds {len(values)}."
        )
    if not values:
        raise InvalidRequestError(f"{where} is empty: send at least one text.")
    return values


def requested_output(name: str, parameters: dict[str, Any] | None, binary_default: bool) -> RequestedOutput:
    parameters = parameters or {}
    if "classification" in parameters:
        raise InvalidRequestError(
            f"Output '{name}': the classification extension is not supported; "
            "ask for 'label' and 'score' with parameters.top_k."
        )
    binary = _flag(parameters.get("binary_data", binary_default), f"Output '{name}': 'binary_data'")
    return RequestedOutput(name, binary)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequestError(f"{where} must be true or false; got {value!r}.")
    return value


def _timeout(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(
            f"'parameters.{TIMEOUT}' must be a positive number of microseconds; got {value!r}."
        )
    return value
