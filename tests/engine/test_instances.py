"""Model instances: K inference threads over one model, each on its share of torch's threads; the
probe that picks K for INSTANCES=auto; the settings and what the server reports."""

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.engine.batching import BatchLimits
from app.engine.engine import InferenceEngine
from app.engine.instances import (
    INSTANCES_MARGIN,
    EngineInstances,
    candidates,
    choose_instances,
    measure_instances,
    probe_rate,
)
from app.engine.predict import predict
from app.errors import EngineStoppedError
from app.serving.app import create_app
from app.tasks.fill_mask import FillMaskOptions, MaskCandidates, MaskedFeature
from tests.conftest import until, wait_until_ready
from tests.fakes import FakeFillMaskTask


class RecordingTask(FakeFillMaskTask):
    """Each batch waits at `meeting` (when set) and records its thread and torch's threads there."""

    def __init__(self, meeting: threading.Barrier | None = None) -> None:
        super().__init__()
        self.meeting = meeting
        self.seen: list[tuple[str, int]] = []

    def forward(self, features: Sequence[MaskedFeature]) -> list[MaskCandidates]:
        self.seen.append((threading.current_thread().name, torch.get_num_threads()))
        if self.meeting is not None:
            self.meeting.wait(timeout=5)  # broken (and this batch failed) unless another batch comes
        return super().forward(features)


def run_engine(instances: EngineInstances | None, scenario: Any) -> Any:
    async def main() -> Any:
        engine = InferenceEngine(BatchLimits(max_batch_size=1), instances=instances)  # a batch a request
        engine.start()
        try:
            return await scenario(engine)
        finally:
            await engine.close()

    return asyncio.run(main())


def ask(engine: InferenceEngine, task: FakeFillMaskTask, text: str) -> Any:
    return predict(engine, task, [text], FillMaskOptions(1))  # type: ignore[arg-type]


def test_two_instances_run_two_batches_at_once_each_on_its_threads() -> None:
    task = RecordingTask(threading.Barrier(2))
    threads_here = torch.get_num_threads()

    async def scenario(engine: InferenceEngine) -> list[Any]:
        return list(await asyncio.gather(ask(engine, task, "a [MASK]"), ask(engine, task, "bb [MASK]")))

    answers = run_engine(EngineInstances(2, 1), scenario)
    assert [answer[0][0][0].token_str for answer in answers] == ["w8", "w9"]
    assert sorted(task.seen) == [("inference-0", 1), ("inference-1", 1)]
    assert torch.get_num_threads() == threads_here, "the instances' threads are their own"


def test_one_instance_runs_one_batch_at_a_time() -> None:
    task = RecordingTask(threading.Barrier(2))

    async def scenario(engine: InferenceEngine) -> list[Any]:
        return list(
            await asyncio.gather(
                ask(engine, task, "a [MASK]"), ask(engine, task, "bb [MASK]"), return_exceptions=True
            )
        )

    task.meeting = threading.Barrier(2, timeout=0.3)
    outcomes = run_engine(EngineInstances(1, 2), scenario)
    # Alone at the meeting, the first batch fails (its barrier broken); the second finds it broken too.
    assert all(isinstance(outcome, threading.BrokenBarrierError) for outcome in outcomes)
    assert {name for name, _ in task.seen} == {"inference-0"}
    assert {threads for _, threads in task.seen} == {2}


def test_exclusive_work_waits_for_every_instance_and_no_batch_starts_meanwhile() -> None:
    task = RecordingTask()
    task.gate = threading.Event()

    async def scenario(engine: InferenceEngine) -> list[str]:
        order: list[str] = []
        first = asyncio.ensure_future(ask(engine, task, "a [MASK]"))
        second = asyncio.ensure_future(ask(engine, task, "bb [MASK]"))
        await until(lambda: len(task.seen) == 2)  # both instances hold a batch at the gate
        exclusive = asyncio.ensure_future(
            engine.run_exclusive(lambda: order.append(f"exclusive {task.batches}"))
        )
        third = asyncio.ensure_future(ask(engine, task, "ccc [MASK]"))
        await asyncio.sleep(0.1)
        assert order == [] and len(task.seen) == 2, "neither the exclusive work nor a third batch started"
        task.gate.set()
        await asyncio.gather(first, second, exclusive, third)
        order.append(f"after {task.batches}")
        return order

    assert run_engine(EngineInstances(2, 1), scenario) == ["exclusive [1, 1]", "after [1, 1, 1]"]


def test_more_instances_join_a_running_engine() -> None:
    task = RecordingTask(threading.Barrier(2))

    async def scenario(engine: InferenceEngine) -> None:
        engine.use_instances(EngineInstances(2, 1))
        await asyncio.gather(ask(engine, task, "a [MASK]"), ask(engine, task, "bb [MASK]"))

    run_engine(EngineInstances(1, 2), scenario)
    assert sorted(task.seen) == [("inference-0", 1), ("inference-1", 1)]


class Fatal(BaseException):
    """Not an Exception: kills the inference thread that meets it, as a crash in C would."""


def test_an_instance_that_dies_stops_them_all_and_answers_every_request() -> None:
    class DyingTask(RecordingTask):
        def forward(self, features: Sequence[MaskedFeature]) -> list[MaskCandidates]:
            if features[0].input_ids[0] == 8:
                raise Fatal()
            return super().forward(features)

    task = DyingTask()
    task.gate = threading.Event()

    async def scenario(engine: InferenceEngine) -> list[Any]:
        held = asyncio.ensure_future(ask(engine, task, "bb [MASK]"))  # one instance held at the gate
        await until(lambda: len(task.seen) == 1)
        dying = asyncio.ensure_future(ask(engine, task, "a [MASK]"))
        await until(lambda: engine.failure is not None)
        queued = await asyncio.gather(ask(engine, task, "ccc [MASK]"), return_exceptions=True)
        task.gate.set()
        outcomes = list(await asyncio.gather(held, dying, return_exceptions=True))
        return outcomes + queued

    held, dying, refused = run_engine(EngineInstances(2, 1), scenario)
    assert isinstance(held, list), "the batch that ran meanwhile is answered"
    assert isinstance(dying, EngineStoppedError) and isinstance(refused, EngineStoppedError)


def test_the_candidates_split_the_threads_evenly() -> None:
    assert candidates(4) == [EngineInstances(1, 4), EngineInstances(2, 2), EngineInstances(4, 1)]
    assert candidates(6) == [EngineInstances(count, 6 // count) for count in (1, 2, 3, 6)]
    assert candidates(1) == [EngineInstances(1, 1)]


@pytest.mark.parametrize(
    ("rates", "chosen"),
    [
        ({1: 10.0, 2: 10.0 * INSTANCES_MARGIN, 4: 10.0}, EngineInstances(2, 2)),
        ({1: 10.0, 2: 10.2, 4: 10.4}, EngineInstances(1, 4)),  # no candidate wins by the margin
        ({1: 10.0, 2: 11.0, 4: 12.0}, EngineInstances(4, 1)),
    ],
)
def test_auto_keeps_more_instances_only_where_they_win_by_the_margin(
    rates: dict[int, float], chosen: EngineInstances
) -> None:
    assert choose_instances(lambda candidate: rates[candidate.count], 4) == chosen


class SmallEncoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embeddings = torch.nn.Embedding(100, 16)
        self.layer = torch.nn.Linear(16, 16)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.layer(self.embeddings(input_ids % 100)) * attention_mask.unsqueeze(-1)


def test_the_probe_times_each_candidate_on_the_model_and_returns_one_of_them() -> None:
    inputs = {"input_ids": torch.ones(2, 8, dtype=torch.long), "attention_mask": torch.ones(2, 8)}
    assert probe_rate(SmallEncoder(), inputs, EngineInstances(2, 1)) > 0
    assert measure_instances(SmallEncoder(), 2) in candidates(2)

    class Broken(SmallEncoder):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        probe_rate(Broken(), inputs, EngineInstances(2, 1))


def test_instances_settings() -> None:
    assert Settings(instances="auto").instances == "auto"
    assert Settings(instances="2").instances == 2
    assert Settings(instances=2).compile_choice() == "off", "instances run eager"
    assert Settings(instances="auto").compile_choice() == Settings().compile
    with pytest.raises(ValidationError, match="COMPILE=on runs one instance"):
        Settings(instances=2, compile="on")
    with pytest.raises(ValidationError):
        Settings(instances=0)


@pytest.mark.parametrize("instances", ["2", "auto"])
def test_the_server_reports_its_instances_and_answers_as_with_one(
    tiny_bert_dir: Path, instances: str
) -> None:
    request = {"input_data": {"input_string": ["Paris is the [MASK] of France.", "Today is a [MASK] day!"]}}
    answers, reported = [], []
    for choice in ("1", instances):
        with TestClient(create_app(Settings(model_id=str(tiny_bert_dir), instances=choice))) as client:
            wait_until_ready(client)
            answers.append(client.post("/score", json=request).content)
            engine = client.get("/health/ready").json()["engine"]
            metrics = client.get("/metrics").text
            assert f"bert_serving_engine_instances {float(engine['instances'])}" in metrics
            assert (
                f"bert_serving_engine_threads_per_instance {float(engine['threads_per_instance'])}" in metrics
            )
            reported.append(EngineInstances(engine["instances"], engine["threads_per_instance"]))
    assert answers[0] == answers[1]
    threads = reported[0].threads
    assert reported[0] == EngineInstances(1, threads)
    if instances == "auto":
        assert reported[1] in candidates(threads)
    else:
        assert reported[1] == EngineInstances.split(2, threads)
