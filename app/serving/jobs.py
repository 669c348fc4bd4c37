"""The one data plane under every protocol: a codec decodes its request into an `InferenceJob`,
`DataPlane.run` runs it (the task's lookup, the log fields, the deadline, a client that leaves), and the
codec encodes the task's own result records back into its wire shape."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request

from app.config import Settings, TaskName
from app.engine.engine import InferenceEngine
from app.engine.predict import characters, predict
from app.engine.timeline import Timeline
from app.errors import (
    ClientClosedRequestError,
    DeadlineExceededError,
    PayloadTooLargeError,
)
from app.repository.repository import ModelRepository
from app.serving.lifespan import ServingState
from app.tasks.base import Task
from app.tasks.checkpoint import ServedModel

DISCONNECT_POLL_S = 0.25


class Caller(Protocol):
    """Who asks: an HTTP request (Starlette's `Request`), or a gRPC call
    (`app.serving.grpc_service.calls.GrpcCall`). The data plane writes the request's log fields to
    `state.log_fields` and asks whether the client is still there."""

    @property
    def state(self) -> Any: ...

    async def is_disconnected(self) -> bool: ...


@dataclass(frozen=True)
class InferenceJob:
    """What a protocol asks of the model, in no protocol's terms."""

    task: TaskName
    examples: Sequence[Any]
    options: Any
    logged_inputs: Any = None  # what LOG_INPUTS=true logs of the request: its texts, as it sent them
    timeout_ms: int | None = None  # the client's own deadline, where its protocol has one


@dataclass(frozen=True)
class DataPlane:
    """What runs every protocol's jobs: one of the server's models, the engine, the server's settings."""

    engine: InferenceEngine
    model: ServedModel
    settings: Settings
    name: str
    repository: ModelRepository

    async def run(self, request: Caller, job: InferenceJob) -> list[Any]:
        """Each example's result record, from the served task named by the job."""
        check_text_sizes(job.examples, self.settings)
        task = self.model.task(job.task)  # a task this checkpoint cannot answer: 400 saying why
        request.state.log_fields = {"model": self.name, "task": job.task, "inputs": len(job.examples)} | (
            {"texts": job.logged_inputs} if self.settings.log_inputs else {}
        )
        timeout_ms = self.settings.request_timeout_ms
        if job.timeout_ms is not None:
            timeout_ms = min(timeout_ms, job.timeout_ms)
        # Read by the timing headers (TEI's) and the request's trace once it is answered.
        request.state.timeline = timeline = Timeline()
        with self.repository.computing(self.name):
            return await predict_for_client(
                request, self.engine, task, job.examples, job.options, timeout_ms, timeline
            )


def data_plane(
    request: Request, name: str | None = None
) -> contextlib.AbstractAsyncContextManager[DataPlane]:
    """The named model's plane (the default model's without a name) while the request uses it."""
    return serving_plane(request.app.state, request, name)


@contextlib.asynccontextmanager
async def serving_plane(app_state: Any, caller: Caller, name: str | None) -> AsyncIterator[DataPlane]:
    """The named model's plane of the app whose `app.state` this is, while `caller` uses it: an
    unload waits for it. 404 for a name the server does not serve; 503 while the model is not ready."""
    serving: ServingState = app_state.serving
    repository = serving.serving_repository()
    name = name or repository.default_name
    if name in repository.entries:  # a name not served is no label: clients choose them
        caller.state.log_fields = {"model": name}
    async with repository.serving(name) as model:
        yield DataPlane(serving.engine, model, app_state.settings, name, repository)


def data_plane_of(request: Request) -> contextlib.AbstractAsyncContextManager[DataPlane]:
    """The plane of the model the path names (`{model_name}`), else the default one's, for the
    route to hold while it runs (`async with`). Not a FastAPI dependency with `yield`: FastAPI wraps
    those in a context manager and an exit stack per request, a tenth of `/score`'s rate with a
    tiny model."""
    return data_plane(request, request.path_params.get("model_name"))


async def predict_for_client(
    request: Caller,
    engine: InferenceEngine,
    task: Task[Any],
    examples: Sequence[Any],
    options: Any,
    timeout_ms: int,
    timeline: Timeline | None = None,
) -> list[Any]:
    """Each example's answer from `task`, but given up at the deadline or when the client goes away."""
    deadline = time.monotonic() + timeout_ms / 1000
    watch = ClientWatch(request, deadline, timeout_ms)
    try:
        return await predict(engine, task, examples, options, deadline, timeline)
    except asyncio.CancelledError:
        if watch.verdict is None:  # cancelled from outside: not ours to answer
            raise
        watch.task.uncancel()
        raise watch.verdict from None
    finally:
        watch.stop()


class ClientWatch:
    """Cancels the request's task (in which it awaits its answer) at its deadline, or when its client
    has gone away, polled every DISCONNECT_POLL_S; `verdict` says which. One timer per request: most
    are answered before it first fires (a task and `asyncio.wait` per request cost more than the
    data plane's own work with a small model)."""

    def __init__(self, request: Caller, deadline: float, timeout_ms: int) -> None:
        self.request, self.deadline, self.timeout_ms = request, deadline, timeout_ms
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.verdict: Exception | None = None
        self._loop = asyncio.get_running_loop()
        self._check: asyncio.Task[None] | None = None
        self._timer = self._arm()

    def _arm(self) -> asyncio.TimerHandle:
        delay = max(0.0, min(self.deadline - time.monotonic(), DISCONNECT_POLL_S))
        return self._loop.call_later(delay, self._look)

    def _look(self) -> None:
        if time.monotonic() >= self.deadline:
            self._give_up(
                DeadlineExceededError(f"No answer within the request timeout of {self.timeout_ms} ms.")
            )
        else:
            self._check = self._loop.create_task(self._check_client())

    async def _check_client(self) -> None:
        if await self.request.is_disconnected():
            self._give_up(ClientClosedRequestError("The client closed the connection before the answer."))
        else:
            self._timer = self._arm()

    def _give_up(self, verdict: Exception) -> None:
        if self.verdict is None:
            self.verdict = verdict
            self.task.cancel()

    def stop(self) -> None:
        self._timer.cancel()
        if self._check is not None:
            self._check.cancel()


def check_input_count(where: str, count: int, limit: int) -> None:
    """Every protocol's limit on inputs per request (MAX_INPUTS_PER_REQUEST), before any work."""
    if count > limit:
        raise PayloadTooLargeError(
            f"'{where}' has {count} inputs; the limit is {limit} per request. Split it."
        )


def check_text_sizes(examples: Sequence[Any], settings: Settings) -> None:
    """Every protocol's limits on characters per input and per request, before any tokenizing: an
    example (a text, a pair, a question with its context) is one input."""
    total = 0
    for index, example in enumerate(examples):
        size = characters(example)
        if size > settings.max_input_characters:
            raise PayloadTooLargeError(
                f"Input {index} has {size:,} characters; the limit is {settings.max_input_characters:,} "
                "per input (MAX_INPUT_CHARACTERS)."
            )
        total += size
    if total > settings.max_request_characters:
        raise PayloadTooLargeError(
            f"The request's inputs have {total:,} characters; the limit is "
            f"{settings.max_request_characters:,} per request (MAX_REQUEST_CHARACTERS). Split it."
        )
