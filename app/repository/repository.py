"""The models of one server and their lives in it, as Triton's model repository has them: LOADING
(in a worker thread, then a warm-up on the engine), READY, UNLOADING (refusing new requests while
those in flight are answered) and UNAVAILABLE (never loaded, unloaded, or failed, with its reason).

Every model shares the one engine, so batches form per model on one inference thread. A checkpoint
is loaded once however many models run on it: a LoRA adapter joins its base's encoder (loaded for
it, unnamed, where the base is not itself one of the models) and leaves it when unloaded. With a
budget of loaded models, loading one more unloads the least recently used; a request that names an
unloaded one loads it again.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from app.engine.engine import InferenceEngine
from app.engine.heap import freeze_long_lived
from app.errors import ModelLoadError, ModelNotReadyError, QueueFullError, UnknownModelError, exception_text
from app.model_source import ModelSource
from app.repository.entries import LoadedBase, ModelEntry, ModelState
from app.repository.specs import ModelSpec, repository_specs
from app.tasks.checkpoint import ServedModel, load_adapter_model

logger = logging.getLogger(__name__)

ModelLoader = Callable[..., ServedModel]  # (source) -> the model; (source, True) where adapters join it
WarmUp = Callable[[InferenceEngine, ServedModel], Awaitable[None]]


class ModelRepository:
    def __init__(
        self,
        specs: list[ModelSpec],
        engine: InferenceEngine,
        load_model: ModelLoader,
        warm_up: WarmUp,
        *,
        default_model: str | None = None,
        max_loaded_models: int | None = None,
        max_requests_per_model: int | None = None,
        folder: Path | None = None,
    ) -> None:
        self.entries = {spec.name: ModelEntry(spec) for spec in specs}
        self.engine = engine
        self.default_name = default_model or specs[0].name
        self.max_loaded_models = max_loaded_models
        self.max_requests_per_model = max_requests_per_model
        self.folder = folder  # MODEL_REPOSITORY: where a model loaded by name at run time may appear
        self._load_model = load_model
        self._warm_up = warm_up
        self._bases: dict[str, LoadedBase] = {}
        self._base_loads: dict[str, asyncio.Task[LoadedBase]] = {}
        self._adapters_made = 0
        self._model_of_task: dict[int, str] = {}  # id of a loaded model's task -> the model's name

    @property
    def default(self) -> ModelEntry:
        return self.entries[self.default_name]

    def entry(self, name: str) -> ModelEntry:
        entry = self.entries.get(name)
        if entry is None:
            raise UnknownModelError(f"Unknown model '{name}'; this server serves {self.names_in_words()}.")
        return entry

    def names_in_words(self) -> str:
        return ", ".join(f"'{name}'" for name in self.entries)

    @property
    def loaded_count(self) -> int:
        return sum(entry.state is ModelState.READY for entry in self.entries.values())

    def name_of(self, task: Any) -> str:
        """The model a task belongs to (the first, where models share a checkpoint's tasks), per
        batch for its metrics: looked up, not searched."""
        return self._model_of_task.get(id(task), "unloaded")

    def index(self) -> list[dict[str, Any]]:
        return [entry.describe() for entry in self.entries.values()]

    # Requests

    @contextlib.asynccontextmanager
    async def serving(self, name: str) -> AsyncIterator[ServedModel]:
        """The model while a request uses it; an unload waits for every one of these to end."""
        entry = self.entry(name)
        if entry.state is not ModelState.READY and entry.evicted:
            await self.load(name)
        served = self.ready_model(name)
        entry.in_flight += 1
        entry.drained.clear()
        entry.last_used = time.monotonic()
        try:
            yield served
        finally:
            entry.in_flight -= 1
            if entry.in_flight == 0:
                entry.drained.set()

    @contextlib.contextmanager
    def computing(self, name: str) -> Iterator[None]:
        """One of the model's requests, its body in, at the model: MAX_REQUESTS_PER_MODEL counts these
        (429 naming the model past it), so a client still sending its body holds no model's slot."""
        entry = self.entry(name)
        if self.max_requests_per_model is not None and entry.computing >= self.max_requests_per_model:
            raise QueueFullError(
                f"The model '{name}' has {entry.computing} requests in flight, its limit "
                "(MAX_REQUESTS_PER_MODEL); retry shortly."
            )
        entry.computing += 1
        try:
            yield
        finally:
            entry.computing -= 1

    def ready_model(self, name: str) -> ServedModel:
        """The named model while it is loaded; 503 saying why where it is not."""
        entry = self.entry(name)
        if entry.state is not ModelState.READY or entry.served is None:
            raise ModelNotReadyError(self.not_ready_reason(entry))
        return entry.served

    @staticmethod
    def not_ready_reason(entry: ModelEntry) -> str:
        name = entry.spec.name
        if entry.state is ModelState.LOADING:
            return f"The model '{name}' is still loading; retry shortly."
        if entry.state is ModelState.UNLOADING:
            return f"The model '{name}' is being unloaded."
        return f"The model '{name}' is not loaded: {entry.reason}"

    # Loading

    async def load_all(self) -> None:
        """Every model, one after another, in order; a failure is recorded, not raised."""
        for name in self.entries:
            await self.load(name)

    async def load(self, name: str) -> ModelEntry:
        """Load (or reload) a model; its state and reason say how that went."""
        if name not in self.entries and self.folder is not None:
            self._discover(name)
        entry = self.entry(name)
        entry.evicted = False
        if entry.unloading is not None:  # let the unload finish, then load afresh
            await asyncio.shield(entry.unloading)
        if entry.loading is None and entry.state is not ModelState.READY:
            entry.loading = asyncio.create_task(self._load(entry))
            entry.loading.add_done_callback(lambda _: setattr(entry, "loading", None))
        if entry.loading is not None:
            await asyncio.shield(entry.loading)
        if entry.state is ModelState.READY:
            await self._keep_within_budget(keep=name)
        return entry

    def _discover(self, name: str) -> None:
        assert self.folder is not None
        for spec in repository_specs(self.folder):
            if spec.name == name:
                self.entries[name] = ModelEntry(spec)

    async def _load(self, entry: ModelEntry) -> None:
        entry.state, started = ModelState.LOADING, time.perf_counter()
        spec = entry.spec
        try:
            if spec.adapter_base is None:
                base = await self._base(spec.base_key, spec.source)
                served = base.served
                if not base.warmed:
                    await self._warm_up(self.engine, served)
                    base.warmed = True
            else:
                base = await self._base(spec.base_key, ModelSource.single(spec.adapter_base))
                self._adapters_made += 1
                adapter = await asyncio.to_thread(
                    load_adapter_model, Path(spec.source.model), f"adapter{self._adapters_made}", base.served
                )
                await self.engine.run_exclusive(adapter.join)
                entry.adapter, served = adapter, adapter.served
                await self._warm_up(self.engine, served)
            base.users.add(spec.name)
        except Exception as exc:  # any failure is this model's, never the server's
            if not isinstance(exc, ModelLoadError):
                logger.exception("Unexpected failure while loading %s", spec.name)
            await self._forget(entry)
            entry.state = ModelState.UNAVAILABLE
            entry.reason = exc.message if isinstance(exc, ModelLoadError) else exception_text(exc)
            logger.error("Model %s failed to load: %s", spec.name, entry.reason)
            return
        entry.served, entry.state, entry.reason = served, ModelState.READY, ""
        for task in served.tasks.values():
            self._model_of_task.setdefault(id(task), spec.name)
        await self.engine.run_exclusive(freeze_long_lived)  # where no batch is held: see _unload
        logger.info("Model %s ready in %.1f s", spec.name, time.perf_counter() - started)

    async def _base(self, key: str, source: ModelSource) -> LoadedBase:
        if key in self._bases:
            return self._bases[key]
        if key not in self._base_loads:
            shareable = any(
                entry.spec.adapter_base is not None and entry.spec.base_key == key
                for entry in self.entries.values()
            )
            loader = self._load_model
            # What loading freed (a compiled model's eager encoder) goes back by freeze_long_lived,
            # once the model is ready.
            self._base_loads[key] = asyncio.create_task(
                asyncio.to_thread(lambda: LoadedBase(loader(source, True) if shareable else loader(source)))
            )
        try:
            base = await asyncio.shield(self._base_loads[key])
        finally:
            self._base_loads.pop(key, None)
        self._bases.setdefault(key, base)
        return self._bases[key]

    # Unloading

    async def unload(self, name: str) -> ModelEntry:
        """Refuse the model's new requests, answer those in flight, then let its weights go."""
        entry = self.entry(name)
        entry.evicted = False
        if entry.loading is not None:
            await asyncio.shield(entry.loading)
        if entry.unloading is None and entry.state is ModelState.READY:
            entry.state = ModelState.UNLOADING
            entry.unloading = asyncio.create_task(self._unload(entry))
            entry.unloading.add_done_callback(lambda _: setattr(entry, "unloading", None))
        if entry.unloading is not None:
            await asyncio.shield(entry.unloading)
        return entry

    async def _unload(self, entry: ModelEntry) -> None:
        await entry.drained.wait()
        await self._forget(entry)
        entry.state, entry.reason = ModelState.UNAVAILABLE, "unloaded"
        # On the inference thread, between batches: it holds no batch of this model that would be
        # frozen, and so kept, for good.
        await self.engine.run_exclusive(freeze_long_lived)
        logger.info("Model %s unloaded", entry.spec.name)

    async def _forget(self, entry: ModelEntry) -> None:
        if entry.adapter is not None:
            await self.engine.run_exclusive(entry.adapter.leave)
        if entry.served is not None:
            for task in entry.served.tasks.values():
                if self._model_of_task.get(id(task)) == entry.spec.name:
                    del self._model_of_task[id(task)]
        entry.served, entry.adapter = None, None
        key = entry.spec.base_key
        base = self._bases.get(key)
        if base is not None:
            base.users.discard(entry.spec.name)
            if not base.users:
                del self._bases[key]

    async def _keep_within_budget(self, keep: str) -> None:
        if self.max_loaded_models is None:
            return
        loaded = [entry for entry in self.entries.values() if entry.state is ModelState.READY]
        for entry in sorted(loaded, key=lambda entry: entry.last_used):
            if len(loaded) <= self.max_loaded_models:
                return
            if entry.spec.name == keep:
                continue
            loaded.remove(entry)
            logger.info("Unloading %s, the least recently used model (MAX_LOADED_MODELS)", entry.spec.name)
            await self.unload(entry.spec.name)
            entry.evicted = True
            entry.reason = "unloaded by MAX_LOADED_MODELS; a request naming it loads it again"
