"""A front-end's repository: the engine process's models, as weightless twins.

The engine process loads, unloads and evicts; a front-end's load or unload asks it to and takes
its answer. What other front-ends changed reaches this one within SYNC_INTERVAL_S, so every
front-end's `/v2/repository/index`, readiness and routes agree; a request in between for a model
the engine no longer serves gets the engine's own 503."""

import asyncio
import logging
from typing import Any

from app.errors import ModelLoadError, exception_text
from app.repository.entries import ModelEntry, ModelState
from app.repository.repository import ModelRepository
from app.repository.specs import ModelSpec
from app.workers.engine_client import RemoteEngine
from app.workers.engine_server import ModelView
from app.workers.twins import build_twin

logger = logging.getLogger(__name__)

SYNC_INTERVAL_S = 1.0


def _never_loaded(*_: Any) -> Any:
    raise ModelLoadError("A front-end loads no weights; the engine process does.")


async def _no_warm_up(*_: Any) -> None:
    return None


class MirrorRepository(ModelRepository):
    def __init__(self, specs: list[ModelSpec], engine: RemoteEngine, **options: Any) -> None:
        super().__init__(specs, engine, _never_loaded, _no_warm_up, **options)
        self.client = engine.client
        self._versions: dict[str, int] = {}  # the engine's version of each model this mirror holds

    async def load_all(self) -> None:
        """The models as the engine's own start-up left them (it loads; this waits for it)."""
        for name, entry in self.entries.items():
            self._apply(entry, await self.client.call("settled", name))
        self.engine.instances = await self.client.call("instances")  # for /health/ready and metrics

    async def keep_in_sync(self) -> None:
        """Follow the engine's models: loads, unloads and evictions any front-end caused."""
        while self.client.failure is None:  # once the engine has gone, its supervisor stops all
            await asyncio.sleep(SYNC_INTERVAL_S)
            try:
                states: dict[str, tuple[str, str, int]] = await self.client.call("states")
                for name, (state, reason, version) in states.items():
                    if name not in self.entries:  # loaded by name from MODEL_REPOSITORY elsewhere
                        self._discover(name)
                    entry = self.entries.get(name)
                    if entry is None or entry.loading is not None or entry.unloading is not None:
                        continue
                    if state != ModelState.READY:
                        self._apply(entry, (state, reason, None))
                    elif entry.state is not ModelState.READY or self._versions.get(name) != version:
                        self._apply(entry, await self.client.call("sync", name))
            except Exception as exc:  # the next round tries again; the supervisor watches the engine
                if self.client.failure is None:
                    logger.warning("Could not follow the engine's models: %s", exception_text(exc))

    async def _load(self, entry: ModelEntry) -> None:
        entry.state = ModelState.LOADING
        self._apply(entry, await self.client.call("load", entry.spec.name))

    async def _unload(self, entry: ModelEntry) -> None:
        await entry.drained.wait()  # this front-end's requests; the engine waits for its own
        self._apply(entry, await self.client.call("unload", entry.spec.name))

    async def _keep_within_budget(self, keep: str) -> None:
        return None  # the engine keeps MAX_LOADED_MODELS

    def _apply(self, entry: ModelEntry, view: ModelView) -> None:
        state, reason, spec = view
        name = entry.spec.name
        if entry.served is not None:
            for task in entry.served.tasks.values():
                self._model_of_task.pop(id(task), None)
        if spec is None:
            entry.served, entry.state, entry.reason = None, ModelState(state), reason
            self._versions.pop(name, None)
            return
        twin = build_twin(spec)
        entry.served, entry.state, entry.reason = twin, ModelState.READY, ""
        self._versions[name] = spec.version
        for task in twin.tasks.values():
            self._model_of_task.setdefault(id(task), name)
