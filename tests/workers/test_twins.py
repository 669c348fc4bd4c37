"""A front-end's weightless twin of a served model encodes and decodes exactly as the model itself."""

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from app.engine.predict import decode_all
from app.tasks.checkpoint import load_served_model
from app.tasks.options import task_options
from app.tasks.registry import TASKS
from app.workers.twins import build_twin, twin_spec
from tests.minilm import minilm_folder

TASK_CHECKPOINTS = ["pretraining", "text-classification", "token-classification", "question-answering"]


def assert_twin_answers_as_model(folder: Path) -> None:
    served = load_served_model(str(folder), "cpu", "fp32")
    twin = build_twin(pickle.loads(pickle.dumps(twin_spec(served))))  # as it travels to a front-end
    assert twin.describe() == served.describe()
    assert twin.tasks.keys() == served.tasks.keys()
    for name, task in served.tasks.items():
        examples = TASKS[name].warm_up(getattr(task, "mask_token", "[MASK]"))
        options = task_options(name, top_k=3, with_scores=True)
        encoded = task.encode(examples, options)
        assert pickle.dumps(twin.tasks[name].encode(examples, options)) == pickle.dumps(encoded), name
        # The engine's outputs, as they come back over the socket, decoded by each.
        outputs = pickle.loads(pickle.dumps(task.forward([f for item in encoded for f in item.features])))
        assert decode_all(twin.tasks[name], encoded, outputs, options) == decode_all(
            task, encoded, outputs, options
        ), name


@pytest.mark.parametrize("task", TASK_CHECKPOINTS)
def test_a_twin_encodes_and_decodes_as_its_model(task: str, tiny_task_dir: Callable[[str], Path]) -> None:
    assert_twin_answers_as_model(tiny_task_dir(task))


def test_an_embedding_model_twin_keeps_its_pooling() -> None:
    assert_twin_answers_as_model(minilm_folder())


def test_a_twin_holds_no_weights(tiny_task_dir: Callable[[str], Path]) -> None:
    twin = build_twin(twin_spec(load_served_model(str(tiny_task_dir("text-classification")), "cpu", "fp32")))
    model = twin.tasks["text-classification"].model  # type: ignore[attr-defined]
    assert all(parameter.is_meta for parameter in model.parameters())
