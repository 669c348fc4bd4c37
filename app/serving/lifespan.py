"""The models' life in the server: loaded in the background, warmed up, then served."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings
from app.engine.batching import BatchLimits
from app.engine.engine import InferenceEngine
from app.engine.instances import EngineInstances, measure_instances
from app.engine.predict import predict
from app.errors import ModelNotReadyError, exception_text
from app.repository.entries import ModelState
from app.repository.repository import ModelLoader, ModelRepository
from app.tasks.checkpoint import ServedModel, load_configured_model
from app.tasks.options import task_options
from app.tasks.registry import TASKS

logger = logging.getLogger(__name__)


def model_loader_for(settings: Settings) -> ModelLoader:
    return lambda source, shareable=False: load_configured_model(settings, source, shareable)


def batch_limits_for(settings: Settings) -> BatchLimits:
    return BatchLimits(
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queued_inputs=settings.max_queued_inputs,
    )


def engine_instances_for(settings: Settings, total_threads: int) -> EngineInstances:
    """The instances the engine starts with (INSTANCES=auto: one, until the probe has chosen)."""
    count = settings.instances if isinstance(settings.instances, int) else 1
    return EngineInstances.split(count, total_threads)


def instances_for(served: ServedModel, total_threads: int) -> EngineInstances:
    """INSTANCES=auto: measured on the model's encoder where instances can run side by side."""
    if served.compiled or served.device != "cpu" or served.network is None or total_threads < 2:
        return EngineInstances.split(1, total_threads)
    return measure_instances(served.network, total_threads)


@dataclass
class ServingState:
    """The server's models and the one engine they share. `load_error`: why the server cannot
    serve at all (its models' list is wrong, or none of them loaded). `choose_instances`: with
    INSTANCES=auto, the probe that picks the engine's instances once the default model is loaded."""

    repository: ModelRepository | None
    engine: InferenceEngine
    load_error: str | None = None
    started: bool = False  # every model named at start has loaded or failed
    choose_instances: Callable[[ServedModel], EngineInstances] | None = None

    def not_ready_reason(self) -> str:
        if self.load_error is not None:
            return f"The model failed to load: {self.load_error}"
        if self.engine.failure is not None:
            return f"The inference worker died: {exception_text(self.engine.failure)}"
        if self.repository is not None and self.started:
            return ModelRepository.not_ready_reason(self.repository.default)
        loading = self.repository.default.spec.source if self.repository is not None else "?"
        return f"The model '{loading}' is still loading; retry shortly."

    def serving_repository(self) -> ModelRepository:
        """The models to ask; 503 where there are none (their list was wrong, none loaded) or the
        engine died."""
        if self.repository is None or self.load_error is not None or self.engine.failure is not None:
            raise ModelNotReadyError(self.not_ready_reason())
        return self.repository

    @property
    def ready(self) -> bool:
        """Every model named at start settled, the default one served, the engine running."""
        return (
            self.started
            and self.load_error is None
            and self.engine.failure is None
            and self.repository is not None
            and self.repository.default.state is ModelState.READY
        )


async def warm_up(engine: InferenceEngine, model: ServedModel) -> None:
    """Run the batch shapes traffic will bring, so the first requests pay no one-time costs."""
    batch = min(engine.limits.max_batch_size, engine.limits.max_queued_inputs, 8)
    for name, task in model.tasks.items():
        examples = TASKS[name].warm_up(getattr(task, "mask_token", "[MASK]"))
        options = task_options(name, top_k=5, with_scores=True)  # the scored paths too
        await predict(engine, task, examples[:1], options)
        await predict(engine, task, examples[:1] * batch, options)
        await predict(engine, task, examples[1:], options)


async def load_models(state: ServingState) -> float:
    """Start the engine and load every model in the background, so liveness answers meanwhile.

    Returns the seconds it took; where no model could load, sets `state.load_error` instead of raising.
    """
    started = time.perf_counter()
    state.engine.start()
    assert state.repository is not None
    await state.repository.load_all()
    entries = list(state.repository.entries.values())
    if all(entry.state is not ModelState.READY for entry in entries):
        state.load_error = "; ".join(entry.reason for entry in entries)
    served = state.repository.default.served
    if state.choose_instances is not None and served is not None:
        choose = state.choose_instances
        # On an inference thread, so that no batch runs beside the probe's.
        instances = await state.engine.run_exclusive(lambda: choose(served))
        logger.info("INSTANCES=auto: %d instances of %d threads", instances.count, instances.threads)
        state.engine.use_instances(instances)
    state.started = True
    return time.perf_counter() - started
