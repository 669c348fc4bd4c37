"""Packed batches (app.tasks.packing) answer as padded ones: every task, mixed lengths, segment pairs."""

import dataclasses
import itertools
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from app.config import TaskName
from app.tasks.base import pad_features
from app.tasks.checkpoint import bind_task, load_served_model
from app.tasks.packing import INT8_ROW_TOKENS, ROW_TOKENS, PackedEncoder, pack, place
from app.tasks.registry import TASKS
from app.tasks.token_classification import Words
from tests.task_inputs import sentences

SIZES = (1, 2, 7, 32)


def test_every_input_gets_a_row_with_room_for_it_and_a_long_one_gets_its_own() -> None:
    rng = random.Random(0)
    for _ in range(50):
        lengths = [rng.randint(2, 512) for _ in range(rng.randint(1, 40))]
        rows, offsets, width = place(lengths, row_tokens=256)
        ends: dict[int, list[tuple[int, int]]] = {}
        for row, offset, length in zip(rows, offsets, lengths, strict=True):
            ends.setdefault(row, []).append((offset, offset + length))
        for spans in ends.values():
            spans.sort()
            assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))  # no overlap
            assert spans[-1][1] <= width
        assert width == max(end for spans in ends.values() for _, end in spans)
        assert width <= max(256, *lengths)
    rows, _, width = place([300, 20, 20], row_tokens=256)
    assert rows == [0, 1, 1] and width == 300


def test_packing_keeps_each_token_its_position_type_and_segment_and_unpacks_to_the_padded_layout() -> None:
    lengths, longest = [5, 3, 8, 2], 8
    input_ids = torch.zeros(len(lengths), longest, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    token_type_ids = torch.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        input_ids[row, :length] = torch.arange(length) + 100 * (row + 1)
        attention_mask[row, :length] = 1
        token_type_ids[row, length // 2 : length] = 1
    packed = pack(input_ids, attention_mask, token_type_ids, row_tokens=10)
    assert packed.input_ids.shape[0] < len(lengths)  # shorter ones shared a row
    for row, length in enumerate(lengths):
        at = packed.segments == row + 1
        assert int(at.sum()) == length
        assert packed.input_ids[at].tolist() == input_ids[row, :length].tolist()
        assert packed.position_ids[at].tolist() == list(range(length))
        assert packed.token_type_ids[at].tolist() == token_type_ids[row, :length].tolist()
    hidden = packed.input_ids.unsqueeze(-1).float().expand(-1, -1, 3)
    unpacked = packed.unpack(hidden)
    assert unpacked.shape == (len(lengths), longest, 3)
    assert torch.equal(unpacked[..., 0], (input_ids * attention_mask).float())


def _examples(task: TaskName, count: int, mask: str) -> list[Any]:
    texts = sentences(count, seed=count, min_words=1, max_words=60)
    others = sentences(count, seed=count + 1, min_words=1, max_words=30)
    if task == "fill-mask":
        return [f"{text} {mask} ." if i % 3 else f"{mask} {text} {mask}" for i, text in enumerate(texts)]
    if task == "text-classification":
        return [
            (text, other if i % 2 else None)
            for i, (text, other) in enumerate(zip(texts, others, strict=True))
        ]
    if task == "token-classification":
        return [Words.from_text(text) for text in texts]
    if task in ("question-answering", "next-sentence-prediction"):
        return list(zip(others, texts, strict=True))
    return texts


def _assert_close(packed: Any, padded: Any, where: str = "output") -> None:
    if dataclasses.is_dataclass(packed) and not isinstance(packed, type):
        assert type(packed) is type(padded), where
        for field in dataclasses.fields(packed):
            _assert_close(getattr(packed, field.name), getattr(padded, field.name), f"{where}.{field.name}")
    elif isinstance(packed, (list, tuple)):
        assert len(packed) == len(padded), where
        for index, (first, second) in enumerate(zip(packed, padded, strict=True)):
            _assert_close(first, second, f"{where}[{index}]")
    elif isinstance(packed, float):
        assert math.isclose(packed, padded, abs_tol=1e-4), f"{where}: {packed} != {padded}"
    else:
        assert packed == padded, where


def _padded_twin(served: Any, name: TaskName) -> Any:
    """The same task on the same weights with the encoder unwrapped: padded batches."""
    network = served.network
    prefix = network.base_model_prefix
    packed_encoder = getattr(network, prefix)
    assert isinstance(packed_encoder, PackedEncoder)
    setattr(network, prefix, packed_encoder.rows.encoder)
    try:
        return bind_task(name, network, served.tokenizer, served.source)
    finally:
        setattr(network, prefix, packed_encoder)


TASK_CHECKPOINTS: dict[TaskName, str] = {
    "fill-mask": "fill-mask",
    "next-sentence-prediction": "pretraining",
    "feature-extraction": "fill-mask",
    "text-classification": "text-classification",
    "token-classification": "token-classification",
    "question-answering": "question-answering",
}


@pytest.mark.parametrize("name", list(TASK_CHECKPOINTS))
def test_every_task_answers_packed_batches_as_padded_ones(
    name: TaskName, tiny_bert_dir: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    kind = TASK_CHECKPOINTS[name]
    checkpoint = tiny_bert_dir if kind == "fill-mask" else tiny_task_dir(kind)
    served = load_served_model(str(checkpoint), device="cpu", task=name if kind == "fill-mask" else None)
    task, padded_task = served.tasks[name], _padded_twin(served, name)
    options = TASKS[name].options_type()
    for size in SIZES:
        encoded = task.encode(_examples(name, size, served.tokenizer.mask_token), options)
        features = [feature for item in encoded for feature in item.features]
        assert len({len(feature.input_ids) for feature in features}) > (size > 2)  # mixed lengths
        _assert_close(
            task.forward(features), padded_task.forward(features), f"{name}, batch of {len(features)}"
        )
        _assert_same_encoding(served.network, features)


def _assert_same_encoding(network: Any, features: list[Any]) -> None:
    """What the heads read, compared before they read it: the tiny heads' random weights saturate
    (tanh, softmax) enough to hide a difference in their outputs."""
    packed_encoder = getattr(network, network.base_model_prefix)
    batch = pad_features(features, 0, torch.device("cpu"))
    with torch.inference_mode():
        packed = packed_encoder(**batch.model_inputs())
        padded = packed_encoder.rows.encoder(**batch.model_inputs())
    keep = batch.attention_mask.bool()
    torch.testing.assert_close(
        packed.last_hidden_state[keep], padded.last_hidden_state[keep], atol=1e-4, rtol=1e-4
    )
    if packed_encoder.pooler is not None:
        torch.testing.assert_close(packed.pooler_output, padded.pooler_output, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "lasttoken"])
def test_each_pooling_reads_only_its_own_input_tokens(pooling: str, tiny_bert_dir: Path) -> None:
    served = load_served_model(str(tiny_bert_dir), device="cpu", task="feature-extraction", pooling=pooling)
    task, padded_task = served.tasks["feature-extraction"], _padded_twin(served, "feature-extraction")
    padded_task = padded_task.configured(pooling, False)  # type: ignore[attr-defined]
    options = TASKS["feature-extraction"].options_type(per_token=True)
    encoded = task.encode(sentences(16, seed=3, max_words=50), options)
    features = [item.features[0] for item in encoded]
    _assert_close(task.forward(features), padded_task.forward(features), pooling)


@pytest.mark.parametrize(("precision", "row_tokens"), [("fp32", ROW_TOKENS), ("int8", INT8_ROW_TOKENS)])
def test_rows_are_as_long_as_measured_best_for_the_precision(
    precision: str, row_tokens: int, tiny_bert_dir: Path
) -> None:
    # int8 is not compared with padding here: dynamic quantization scales each batch's activations
    # by their own range, padding's included, so its answers move with the layout as with batch-mates.
    served = load_served_model(str(tiny_bert_dir), device="cpu", precision=precision)  # type: ignore[arg-type]
    encoder = served.network.bert
    assert isinstance(encoder, PackedEncoder) and encoder.row_tokens == row_tokens
