"""The batching engine with a fake model: batching across requests, isolation, bounds, cancellation."""

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.engine import engine as engine_module
from app.engine import heap
from app.engine.batching import BatchLimits
from app.engine.engine import InferenceEngine
from app.engine.predict import INLINE_CHARACTERS, characters, predict
from app.errors import EngineStoppedError, QueueFullError
from app.tasks.fill_mask import FillMaskOptions
from app.tasks.token_classification import Words
from tests.conftest import until
from tests.fakes import FakeFillMaskTask


def run_with_engine(
    scenario: Callable[[InferenceEngine, FakeFillMaskTask], Awaitable[Any]],
    limits: BatchLimits | None = None,
) -> Any:
    async def main() -> Any:
        model = FakeFillMaskTask()
        engine = InferenceEngine(limits)
        engine.start()
        try:
            return await scenario(engine, model)
        finally:
            await engine.close()

    return asyncio.run(main())


def ask(engine: InferenceEngine, model: FakeFillMaskTask, texts: list[str], top_k: int) -> Any:
    return predict(engine, model, texts, FillMaskOptions(top_k))  # type: ignore[arg-type]


HELD: set[asyncio.Future[Any]] = set()


async def hold_first_batch(engine: InferenceEngine, model: FakeFillMaskTask) -> threading.Event:
    """Start one request and keep its batch running until the returned gate is set."""
    model.gate = threading.Event()
    held = asyncio.ensure_future(ask(engine, model, ["hold [MASK]"], 1))
    HELD.add(held)
    held.add_done_callback(HELD.discard)
    await until(model.holding.is_set)
    return model.gate


async def queued(engine: InferenceEngine, inputs: int) -> None:
    await until(lambda: engine.queued_inputs == inputs)


def test_requests_that_queue_together_share_one_batch() -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> list[Any]:
        gate = await hold_first_batch(engine, model)
        pending = [asyncio.ensure_future(ask(engine, model, [f"request {i} [MASK]"], 1)) for i in range(6)]
        await queued(engine, 6)
        gate.set()
        answers = await asyncio.gather(*pending)
        assert model.batches == [1, 6]
        return answers

    answers = run_with_engine(scenario)
    assert [answer[0][0][0].token_str for answer in answers] == ["w16"] * 6


def test_each_request_gets_its_own_top_k_from_a_shared_batch() -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        gate = await hold_first_batch(engine, model)
        one = asyncio.ensure_future(ask(engine, model, ["a [MASK] [MASK]"], 1))
        three = asyncio.ensure_future(ask(engine, model, ["b [MASK] [MASK]"], 3))
        await queued(engine, 2)
        gate.set()
        assert [len(mask) for mask in (await one)[0]] == [1, 1]
        assert [len(mask) for mask in (await three)[0]] == [3, 3]
        assert model.batches[-1] == 2

    run_with_engine(scenario)


def test_a_failing_input_fails_only_its_own_request() -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        gate = await hold_first_batch(engine, model)
        model.fail_on_length = len("bad [MASK]")
        good = [asyncio.ensure_future(ask(engine, model, [f"good {i} [MASK]"], 1)) for i in range(3)]
        bad = asyncio.ensure_future(ask(engine, model, ["bad [MASK]"], 1))
        await queued(engine, 4)
        gate.set()
        with pytest.raises(RuntimeError, match="cannot run"):
            await bad
        assert [answer[0][0][0].token_str for answer in await asyncio.gather(*good)] == ["w13"] * 3

    run_with_engine(scenario)


def test_inputs_beyond_the_queue_bound_are_refused_at_once() -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        gate = await hold_first_batch(engine, model)
        three = asyncio.ensure_future(ask(engine, model, ["x [MASK]"] * 3, 1))
        await queued(engine, 3)
        with pytest.raises(QueueFullError, match="at capacity"):
            await ask(engine, model, ["y [MASK]"] * 2, 1)
        gate.set()
        assert len(await three) == 3

    run_with_engine(scenario, BatchLimits(max_queued_inputs=4))


def test_a_cancelled_request_is_dropped_before_compute() -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        gate = await hold_first_batch(engine, model)
        abandoned = asyncio.ensure_future(ask(engine, model, ["gone [MASK]"] * 5, 1))
        kept = asyncio.ensure_future(ask(engine, model, ["kept [MASK]"], 1))
        await queued(engine, 6)
        abandoned.cancel()
        gate.set()
        await kept
        assert model.batches == [1, 1]

    run_with_engine(scenario)


def test_max_wait_gathers_requests_that_arrive_within_it() -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        first = asyncio.ensure_future(ask(engine, model, ["first [MASK]"], 1))
        await asyncio.sleep(0.03)
        second = asyncio.ensure_future(ask(engine, model, ["second [MASK]"], 1))
        await asyncio.gather(first, second)
        assert model.batches == [2]

    run_with_engine(scenario, BatchLimits(max_wait_ms=300))


def test_continuous_batching_does_not_wait_for_company() -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        await asyncio.wait_for(ask(engine, model, ["alone [MASK]"], 1), timeout=1)
        assert model.batches == [1]

    run_with_engine(scenario, BatchLimits(max_wait_ms=0))


def test_a_dead_worker_answers_every_waiter_and_refuses_new_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_policy(*_: object) -> list[int]:
        raise RuntimeError("policy bug")

    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        gate = await hold_first_batch(engine, model)
        waiting = asyncio.ensure_future(ask(engine, model, ["waiting [MASK]"], 1))
        await queued(engine, 1)
        monkeypatch.setattr(engine_module, "select_batch", broken_policy)
        gate.set()
        with pytest.raises(EngineStoppedError):
            await asyncio.wait_for(waiting, timeout=2)
        assert isinstance(engine.failure, RuntimeError)
        with pytest.raises(EngineStoppedError):
            await ask(engine, model, ["late [MASK]"], 1)

    run_with_engine(scenario)


def test_a_batch_holds_one_task_and_every_task_is_answered() -> None:
    other = FakeFillMaskTask()  # a second task: same fake, its own batches

    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        gate = await hold_first_batch(engine, model)
        mine = [asyncio.ensure_future(ask(engine, model, [f"mine {i} [MASK]"], 1)) for i in range(3)]
        theirs = [asyncio.ensure_future(ask(engine, other, [f"theirs {i} [MASK]"], 1)) for i in range(2)]
        more = asyncio.ensure_future(ask(engine, model, ["mine 9 [MASK]"], 1))
        await queued(engine, 6)
        gate.set()
        answers = await asyncio.gather(*mine, *theirs, more)
        assert [answer[0][0][0].token_str for answer in answers] == ["w13"] * 3 + ["w15"] * 2 + ["w13"]
        # The oldest item's task goes first, with all its queued items; the other task's next.
        assert model.batches == [1, 4]
        assert other.batches == [2]

    run_with_engine(scenario)


def test_a_short_request_is_tokenized_and_decoded_on_the_event_loop_and_a_long_one_in_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> list[str]:
        threads: list[str] = []
        encode, decode = model.encode, model.decode

        def recording_encode(texts: Any, options: Any) -> Any:
            threads.append("encode " + threading.current_thread().name)
            return encode(texts, options)

        def recording_decode(*args: Any) -> Any:
            threads.append("decode " + threading.current_thread().name)
            return decode(*args)

        monkeypatch.setattr(model, "encode", recording_encode)
        monkeypatch.setattr(model, "decode", recording_decode)
        await ask(engine, model, ["short [MASK]"], 1)
        await ask(engine, model, ["long [MASK] " + "word " * INLINE_CHARACTERS], 1)
        return threads

    main = threading.main_thread().name
    short_encode, short_decode, long_encode, long_decode = run_with_engine(scenario)
    assert (short_encode, short_decode) == (f"encode {main}", f"decode {main}")
    assert long_encode.startswith("encode prepare") and long_decode.startswith("decode prepare")


def test_characters_counts_the_text_in_every_kind_of_example() -> None:
    assert characters(["ab", ("cde", None)]) == 5
    assert characters([Words.from_text("New York rocks")]) == len("NewYorkrocks")


def test_preparing_work_runs_off_the_loop_and_gives_freed_memory_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims: list[tuple[str, int]] = []

    def recording_trim(pad: int) -> int:
        trims.append((threading.current_thread().name, pad))
        return 1

    monkeypatch.setattr(heap, "_malloc_trim", recording_trim)

    def failing() -> None:
        raise ValueError("tokenizer says no")

    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> str:
        with pytest.raises(ValueError, match="says no"):
            await engine.prepare(failing)
        name: str = await engine.prepare(lambda: threading.current_thread().name)
        return name

    assert run_with_engine(scenario).startswith("prepare")
    assert len(trims) == 2 and all(name.startswith("prepare") and pad == 0 for name, pad in trims)


def test_the_next_batch_runs_while_the_event_loop_is_busy() -> None:
    other = FakeFillMaskTask()

    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> None:
        gate = await hold_first_batch(engine, model)
        mine = asyncio.ensure_future(ask(engine, model, ["mine [MASK]"], 1))
        theirs = asyncio.ensure_future(ask(engine, other, ["theirs [MASK]"], 1))
        await queued(engine, 2)
        gate.set()
        # The loop is held (as by a burst of HTTP work): the inference thread goes from batch to batch.
        deadline = time.monotonic() + 5
        while len(model.batches) + len(other.batches) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (model.batches, other.batches) == ([1, 1], [1])
        await asyncio.gather(mine, theirs)

    run_with_engine(scenario)


def test_exclusive_work_runs_on_the_inference_thread_between_batches() -> None:
    async def scenario(engine: InferenceEngine, model: FakeFillMaskTask) -> list[str]:
        gate = await hold_first_batch(engine, model)
        seen: list[str] = []
        exclusive = asyncio.ensure_future(
            engine.run_exclusive(lambda: seen.append(f"{threading.current_thread().name} {model.batches}"))
        )
        await asyncio.sleep(0.05)
        assert seen == []  # not beside the batch that runs
        gate.set()
        await exclusive
        with pytest.raises(ValueError, match="no"):
            await engine.run_exclusive(lambda: int("no"))
        return seen

    assert run_with_engine(scenario) == ["inference-0 [1]"]
