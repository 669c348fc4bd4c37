"""A front-end's way to the engine process: `EngineClient` (one ZMQ DEALER socket, its calls
answered out of order by id) and `RemoteEngine`, the engine as the data plane knows it, whose
batches run in the engine process."""

import asyncio
import itertools
import os
from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio

from app.engine.batching import BatchLimits
from app.engine.engine import InferenceEngine
from app.engine.timeline import BatchRun
from app.errors import EngineStoppedError
from app.tasks.base import Feature, Task
from app.workers.messages import CallKind, decode_answer, encode_call

ENGINE_WATCH_S = 0.2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class EngineClient:
    def __init__(self, address: str) -> None:
        self.address = address
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._context: zmq.asyncio.Context | None = None
        self._socket: zmq.asyncio.Socket | None = None
        self._receiving: asyncio.Task[None] | None = None
        self.failure: Exception | None = None

    def start(self) -> None:
        self._context = zmq.asyncio.Context()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(self.address)
        self._receiving = asyncio.get_running_loop().create_task(self._receive())

    async def call(self, kind: CallKind, *args: Any) -> Any:
        """The engine's answer to one call; its error raised here as the engine raised it."""
        if self._socket is None or self.failure is not None:
            raise self.failure or EngineStoppedError("The engine process is not connected.")
        call_id = next(self._ids)
        answer = self._waiting[call_id] = asyncio.get_running_loop().create_future()
        try:
            await self._socket.send(encode_call(call_id, kind, args))
            return await answer
        finally:  # answered, or given up by its request (deadline, client gone)
            self._waiting.pop(call_id, None)

    async def _receive(self) -> None:
        assert self._socket is not None
        while True:
            call_id, ok, value = decode_answer(await self._socket.recv())
            answer = self._waiting.pop(call_id, None)
            if answer is None or answer.done():
                continue
            if ok:
                answer.set_result(value)
            else:
                answer.set_exception(value)

    def fail_all(self, error: Exception) -> None:
        """Answer every call still waiting with `error` (the engine process is gone)."""
        for answer in self._waiting.values():
            if not answer.done():
                answer.set_exception(error)
        self._waiting.clear()

    def close(self) -> None:
        if self._receiving is not None:
            self._receiving.cancel()
        if self._socket is not None:
            self._socket.close(linger=0)
        if self._context is not None:
            self._context.term()
        self._socket = self._context = self._receiving = None


class RemoteEngine(InferenceEngine):
    """The engine of a front-end: `run` sends a request's features to the engine process, which
    batches them with every front-end's; `prepare` (tokenizing large requests off the event loop)
    runs here. No inference thread runs in a front-end: it holds no weights."""

    def __init__(
        self, client: EngineClient, limits: BatchLimits, model_of: Callable[[Task[Any]], str]
    ) -> None:
        super().__init__(limits)
        self.client = client
        self._model_of = model_of

        self._engine_pid: int | None = None
        self._watching: asyncio.Task[None] | None = None

    def watch(self, engine_pid: int) -> None:
        """Fail this front-end's waiting requests (503) the moment the engine process is gone, rather
        than at their deadlines; its supervisor then stops the server."""
        self._engine_pid = engine_pid

    def start(self) -> None:
        self.preparer.start()
        self.client.start()
        if self._engine_pid is not None:
            self._watching = asyncio.get_running_loop().create_task(self._watch_engine(self._engine_pid))

    async def _watch_engine(self, pid: int) -> None:
        while _alive(pid):
            await asyncio.sleep(ENGINE_WATCH_S)
        self.failure = EngineStoppedError("The engine process has stopped.")
        self.client.failure = self.failure
        self.client.fail_all(self.failure)

    async def run(
        self,
        task: Task[Any],
        features: list[Feature],
        deadline: float | None = None,
        batches: list[BatchRun] | None = None,
    ) -> list[Any]:
        # time.monotonic() is the system's CLOCK_MONOTONIC: one clock for every process here.
        outputs, ran_in = await self.client.call(
            "run", self._model_of(task), task.name, features, deadline, batches is not None
        )
        if batches is not None:
            batches.extend(ran_in)
        return list(outputs)

    async def run_exclusive(self, work: Callable[[], Any]) -> Any:
        return work()  # no batch runs in this process

    async def close(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
        self.client.close()
        self.preparer.stop()
