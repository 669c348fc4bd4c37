"""Equivalence with transformers' fill-mask pipeline on the same tiny checkpoint (the oracle)."""

import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from transformers import BertForMaskedLM

from app.errors import ModelLoadError
from app.tasks.checkpoint import load_fill_mask_model
from app.tasks.fill_mask import FillMaskTask
from app.tasks.mask_spelling import normalize_masks
from tests.tiny_bert import MAX_POSITIONS, PUNCTUATION, WORDS

TOP_K = 5
SCORE_TOLERANCE = 1e-4
MASK_SPELLINGS = ["[MASK]", "[mask]", "[Mask]", "<mask>"]


def varied_inputs(count: int, seed: int = 7) -> list[str]:
    """Sentences of 1 to 40 words with one to three masks in assorted spellings and places."""
    rng = random.Random(seed)
    texts = []
    for index in range(count):
        words = rng.choices(WORDS, k=rng.randint(1, 40))
        mask_count = 1 if index % 3 else rng.randint(2, 3)
        for _ in range(mask_count):
            words.insert(rng.randint(0, len(words)), rng.choice(MASK_SPELLINGS))
        text = " ".join(words)
        if rng.random() < 0.5:
            text += rng.choice(PUNCTUATION)
        texts.append(text)
    return texts


INPUTS = varied_inputs(60)


def pipeline_candidates(fill_mask_pipeline: Any, text: str) -> list[list[dict[str, Any]]]:
    """The pipeline's answer as [mask][rank], whether it had one mask or several."""
    answer = fill_mask_pipeline(normalize_masks(text, "[MASK]"), top_k=TOP_K)
    return answer if isinstance(answer[0], list) else [answer]


@pytest.fixture(scope="module")
def tiny_model(tiny_bert_dir: Path) -> FillMaskTask:
    return load_fill_mask_model(str(tiny_bert_dir))


def test_inputs_are_varied() -> None:
    assert len(INPUTS) >= 50
    assert sum(1 for text in INPUTS if sum(text.count(m) for m in MASK_SPELLINGS) > 1) >= 15


def test_score_top1_equals_pipeline_on_every_input(
    tiny_bert_client: httpx.Client, fill_mask_pipeline: Any
) -> None:
    answer = tiny_bert_client.post("/score", json={"input_data": {"input_string": INPUTS}}).json()
    expected = [
        {"0": ",".join(mask[0]["token_str"] for mask in pipeline_candidates(fill_mask_pipeline, text))}
        for text in INPUTS
    ]
    assert answer == expected
    top1_tokens = {token for item in answer for token in item["0"].split(",")}
    assert len(top1_tokens) > 10, "a degenerate model predicts one token everywhere"


def test_score_top_k_equals_pipeline_candidates_and_scores(
    tiny_bert_client: httpx.Client, fill_mask_pipeline: Any
) -> None:
    answer = tiny_bert_client.post("/score", json={"inputs": INPUTS, "parameters": {"top_k": TOP_K}}).json()
    for text, masks in zip(INPUTS, answer, strict=True):
        expected = pipeline_candidates(fill_mask_pipeline, text)
        assert len(masks) == len(expected), text
        for ours, theirs in zip(masks, expected, strict=True):
            assert [c["token"] for c in ours] == [c["token"] for c in theirs], text
            assert [c["token_str"] for c in ours] == [c["token_str"] for c in theirs], text
            for our_candidate, their_candidate in zip(ours, theirs, strict=True):
                assert our_candidate["score"] == pytest.approx(their_candidate["score"], abs=SCORE_TOLERANCE)


def test_predictions_do_not_depend_on_batch_company(tiny_model: FillMaskTask) -> None:
    alone = [tiny_model.predict([text], top_k=3)[0] for text in map(_normalized, INPUTS[:12])]
    together = tiny_model.predict(list(map(_normalized, INPUTS[:12])), top_k=3, batch_size=5)
    for one, other in zip(alone, together, strict=True):
        assert [[c.token for c in mask] for mask in one] == [[c.token for c in mask] for mask in other]
        for mask_one, mask_other in zip(one, other, strict=True):
            assert [c.score for c in mask_one] == pytest.approx([c.score for c in mask_other], abs=1e-5)


def test_head_at_masks_equals_full_masked_lm_logits(tiny_model: FillMaskTask, tiny_bert_dir: Path) -> None:
    reference = BertForMaskedLM.from_pretrained(tiny_bert_dir).eval()
    encoded = tiny_model.tokenizer(
        ["the [MASK] sat on the [MASK] .", "a [MASK"], padding=True, return_tensors="pt"
    )
    is_mask = encoded["input_ids"] == tiny_model.mask_token_id
    with torch.inference_mode():
        full = reference(**encoded).logits[is_mask]
        ours = tiny_model._mask_logits(encoded["input_ids"], encoded["attention_mask"], is_mask)
    assert ours.shape == full.shape == (2, tiny_model.tokenizer.vocab_size)
    torch.testing.assert_close(ours, full, rtol=1e-4, atol=1e-4)


def test_a_long_input_is_answered_as_the_pipeline_answers_its_window(
    tiny_model: FillMaskTask, fill_mask_pipeline: Any
) -> None:
    rng = random.Random(5)
    long_text = " ".join([*rng.choices(WORDS, k=150), "[MASK]", *rng.choices(WORDS, k=60)])
    (input_ids,) = tiny_model.token_ids([long_text])
    assert len(tiny_model.tokenizer(long_text)["input_ids"]) > MAX_POSITIONS == len(input_ids)
    window_text = tiny_model.tokenizer.decode(input_ids[1:-1])
    assert window_text in long_text
    expected = fill_mask_pipeline(window_text, top_k=3)
    answer = tiny_model.predict([long_text], top_k=3)[0][0]
    assert [c.token for c in answer] == [c["token"] for c in expected]
    assert [c.score for c in answer] == pytest.approx([c["score"] for c in expected], abs=SCORE_TOLERANCE)


def test_masks_too_far_apart_answer_400_naming_the_input(tiny_bert_client: httpx.Client) -> None:
    too_far = "[MASK] " + "the " * 300 + "[MASK]"
    response = tiny_bert_client.post("/score", json={"inputs": ["a [MASK]", too_far]})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Input 1: its masks are 302 tokens apart")


def test_loading_a_folder_without_config_fails_with_advice(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"has no config\.json\. Point --model"):
        load_fill_mask_model(str(tmp_path))


def test_token_strings_are_decoded_like_the_pipeline(tiny_model: FillMaskTask) -> None:
    subword = tiny_model.tokenizer.convert_tokens_to_ids("##ing")
    assert tiny_model.token_string(subword) == tiny_model.tokenizer.decode([subword]) == "##ing"


def _normalized(text: str) -> str:
    return normalize_masks(text, "[MASK]")
