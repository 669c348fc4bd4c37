"""The two steps between texts and a model batch: token ids, and rows padded into tensors."""

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from app.tasks.base import Feature, input_ids_of, pad_features

TEXTS = [
    "Paris is the [MASK] of France.",
    "Ça [MASK] très bien, 日本語のテキスト 🙂",
    "tabs\tand\nnewlines [MASK]\u00a0no-break\u200bzero-width",
    "[CLS] special [SEP] tokens [PAD] spelled [UNK] out [MASK]",
    "",
    "word " * 600 + "[MASK]",
]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def test_input_ids_equal_the_tokenizers_call(tokenizer: PreTrainedTokenizerBase) -> None:
    assert input_ids_of(tokenizer, TEXTS) == tokenizer(TEXTS)["input_ids"]


def test_a_tokenizer_set_to_truncate_is_called_as_it_is(tokenizer: PreTrainedTokenizerBase) -> None:
    truncating = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    truncating.backend_tokenizer.enable_truncation(max_length=8)
    ids = input_ids_of(truncating, TEXTS)
    assert ids == truncating(TEXTS)["input_ids"]
    assert ids[0] == tokenizer(TEXTS[0])["input_ids"]


def test_rows_are_padded_on_the_right_with_a_mask_and_segments_when_any_has_them() -> None:
    features = [Feature([101, 7, 8, 102], [0, 0, 1, 1]), Feature([101, 9, 102])]
    batch = pad_features(features, pad_token_id=0, device=torch.device("cpu"))
    assert batch.input_ids.tolist() == [[101, 7, 8, 102], [101, 9, 102, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch.token_type_ids is not None
    assert batch.token_type_ids.tolist() == [[0, 0, 1, 1], [0, 0, 0, 0]]
    assert batch.input_ids.dtype == batch.attention_mask.dtype == torch.long
    without_segments = pad_features(
        [Feature([5]), Feature([5, 6])], pad_token_id=3, device=torch.device("cpu")
    )
    assert without_segments.token_type_ids is None
    assert without_segments.input_ids.tolist() == [[5, 3], [5, 6]]
