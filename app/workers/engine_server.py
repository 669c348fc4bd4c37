"""The engine process's side of the ZMQ socket: each front-end's call answered from the one
repository and engine (`ServingState`), concurrently, in whatever order they finish."""

import asyncio
import logging
from typing import Any

import zmq
import zmq.asyncio

from app.engine.instances import EngineInstances
from app.engine.timeline import BatchRun
from app.repository.entries import ModelEntry, ModelState
from app.serving.lifespan import ServingState
from app.workers.messages import decode_call, encode_answer
from app.workers.twins import TwinSpec, twin_spec, version_of

logger = logging.getLogger(__name__)

ModelView = tuple[str, str, TwinSpec | None]  # state, reason, the twin spec where READY


class EngineServer:
    def __init__(self, state: ServingState, address: str) -> None:
        self.state = state
        self.address = address
        self._answering: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        """Answer calls until cancelled."""
        context = zmq.asyncio.Context()
        socket = context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.bind(self.address)
        try:
            while True:
                sender, payload = await socket.recv_multipart()
                answering = asyncio.create_task(self._answer(socket, sender, payload))
                self._answering.add(answering)
                answering.add_done_callback(self._answering.discard)
        finally:
            for answering in list(self._answering):
                answering.cancel()
            socket.close(linger=0)
            context.term()

    async def _answer(self, socket: zmq.asyncio.Socket, sender: bytes, payload: bytes) -> None:
        call_id, kind, args = decode_call(payload)
        try:
            value, ok = await getattr(self, f"_{kind}")(*args), True
        except Exception as exc:  # the front-end raises it for its request, as this process would
            value, ok = exc, False
        await socket.send_multipart([sender, encode_answer(call_id, ok, value)])

    async def _run(
        self, model: str, task_name: str, features: list[Any], deadline: float | None, with_batches: bool
    ) -> tuple[list[Any], list[BatchRun]]:
        """The outputs, and the batches they ran in where the front-end asked (its timing headers
        and traces)."""
        repository = self.state.serving_repository()
        batches: list[BatchRun] | None = [] if with_batches else None
        async with repository.serving(model) as served:
            task = served.task(task_name)  # type: ignore[arg-type]
            outputs: list[Any] = await self.state.engine.run(task, features, deadline, batches)
            return outputs, batches or []

    async def _settled(self, model: str) -> ModelView:
        """The model once the engine's start-up loading is over (a front-end's start waits here)."""
        while not self.state.started:
            await asyncio.sleep(0.05)
        return await self._sync(model)

    async def _instances(self) -> EngineInstances | None:
        """The engine's instances, as start-up chose them (asked once the models settled)."""
        return self.state.engine.instances

    async def _states(self) -> dict[str, tuple[str, str, int]]:
        """Every model's state, reason and version (which load it is), for the front-ends to follow."""
        entries = self.state.serving_repository().entries
        return {
            name: (entry.state.value, entry.reason, version_of(entry.served))
            for name, entry in entries.items()
        }

    async def _sync(self, model: str) -> ModelView:
        return self._view(self.state.serving_repository().entry(model))

    async def _load(self, model: str) -> ModelView:
        return self._view(await self.state.serving_repository().load(model))

    async def _unload(self, model: str) -> ModelView:
        return self._view(await self.state.serving_repository().unload(model))

    @staticmethod
    def _view(entry: ModelEntry) -> ModelView:
        ready = entry.state is ModelState.READY and entry.served is not None
        return entry.state.value, entry.reason, twin_spec(entry.served) if ready else None  # type: ignore[arg-type]
