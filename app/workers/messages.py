"""What a front-end and the engine process say to each other: pickled tuples on a ZMQ socket.

A call is `(call_id, kind, args)`; its answer `(call_id, ok, value)`, where `value` is the
result, or the exception to raise in the front-end (errors travel as they are, so a 429, 503 or
504 from the engine reaches the client as the single-process server answers it). Both ends are
this package in one server: pickle is safe between them and carries the tasks' own dataclasses.
"""

import pickle
from typing import Any, Literal

CallKind = Literal["run", "settled", "instances", "states", "sync", "load", "unload"]


def encode_call(call_id: int, kind: CallKind, args: tuple[Any, ...]) -> bytes:
    return pickle.dumps((call_id, kind, args), protocol=pickle.HIGHEST_PROTOCOL)


def decode_call(payload: bytes) -> tuple[int, CallKind, tuple[Any, ...]]:
    call_id, kind, args = pickle.loads(payload)
    return call_id, kind, args


def encode_answer(call_id: int, ok: bool, value: Any) -> bytes:
    try:
        return pickle.dumps((call_id, ok, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an exception that cannot travel travels as its text
        return pickle.dumps((call_id, False, RuntimeError(f"{type(value).__name__}: {value} ({exc})")))


def decode_answer(payload: bytes) -> tuple[int, bool, Any]:
    call_id, ok, value = pickle.loads(payload)
    return call_id, ok, value
