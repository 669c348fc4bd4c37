"""Evaluation metrics against a direct computation with the pipeline on the same data."""

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from app.cli import main
from app.datasets.records import DatasetError
from app.evaluation.fill_mask_data import load_examples
from app.evaluation.fill_mask_metrics import k_values
from app.tasks.mask_spelling import MASK_SPELLING, normalize_masks
from tests.tasks.test_model import INPUTS, pipeline_candidates
from tests.tiny_bert import WORDS

TOP_K = 10


def gold_strings(fill_mask_pipeline: Any, text: str, seed: int) -> list[str]:
    """Golds at varied ranks of the pipeline's own list (1st, 2nd, ..., beyond top-k), and one
    multi-word gold that no single token can match."""
    golds = []
    for mask_index, candidates in enumerate(pipeline_candidates_k(fill_mask_pipeline, text, 15)):
        rank = (seed + mask_index) % 14
        golds.append("New York" if rank == 13 else candidates[rank]["token_str"])
    return golds


def pipeline_candidates_k(fill_mask_pipeline: Any, text: str, k: int) -> list[list[dict[str, Any]]]:
    answer = fill_mask_pipeline(normalize_masks(text, "[MASK]"), top_k=k)
    return answer if isinstance(answer[0], list) else [answer]


@pytest.fixture(scope="module")
def azure_data(tmp_path_factory: pytest.TempPathFactory, fill_mask_pipeline: Any) -> Path:
    path = tmp_path_factory.mktemp("eval") / "azure.jsonl"
    rows = [
        {"input_string": text, "masks": gold_strings(fill_mask_pipeline, text, i), "title": "t"}
        for i, text in enumerate(INPUTS)
    ]
    rows.append({"input_string": "two golds for one [MASK]", "masks": ["a", "b"], "title": "t"})
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def direct_metrics(fill_mask_pipeline: Any, path: Path) -> dict[str, Any]:
    """Accuracy@k and MRR@k computed straight from the pipeline's answers."""
    hits = dict.fromkeys(k_values(TOP_K), 0)
    reciprocal, scored, not_single = 0.0, 0, 0
    vocabulary = fill_mask_pipeline.tokenizer.get_vocab()
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if len(MASK_SPELLING.findall(row["input_string"])) != len(row["masks"]):
            continue
        for gold, candidates in zip(
            row["masks"], pipeline_candidates_k(fill_mask_pipeline, row["input_string"], TOP_K), strict=True
        ):
            if gold not in vocabulary:
                not_single += 1
                continue
            scored += 1
            ranks = [i + 1 for i, c in enumerate(candidates[:TOP_K]) if c["token_str"] == gold]
            if ranks:
                reciprocal += 1 / ranks[0]
                for k in hits:
                    hits[k] += ranks[0] <= k
    return {
        "masks_scored": scored,
        "masks_gold_not_single_token": not_single,
        "top1_accuracy": hits[1] / scored,
        "topk_accuracy": {str(k): n / scored for k, n in hits.items()},
        "mrr": reciprocal / scored,
    }


def test_metrics_equal_a_direct_computation_with_the_pipeline(
    azure_data: Path, tmp_path: Path, tiny_bert_dir: Path, fill_mask_pipeline: Any
) -> None:
    out = tmp_path / "out"
    assert main(["evaluate", str(azure_data), "--model", str(tiny_bert_dir), "--output", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    expected = direct_metrics(fill_mask_pipeline, azure_data)
    assert 0 < metrics["top1_accuracy"] < metrics["topk_accuracy"]["10"] < 1
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-12), key
    assert metrics["examples"] == len(INPUTS)
    assert metrics["examples_skipped"]["masks_and_golds_do_not_pair"] == 1
    assert list(metrics["topk_accuracy"]) == ["1", "5", "10"]
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == len(INPUTS)
    assert {"gold", "rank", "candidates", "gold_is_single_token"} <= set(records[0]["masks"][0])
    assert "top-1 accuracy" in (out / "report.md").read_text()
    assert (out / "accuracy_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lama_data_is_broken_down_by_relation(
    tmp_path: Path, tiny_bert_dir: Path, fill_mask_pipeline: Any
) -> None:
    rows = [
        {
            "masked_sentences": [f"the {WORDS[i]} is in [MASK] ."],
            "obj_label": WORDS[i + 1],
            "predicate_id": f"P{i % 3}",
        }
        for i in range(30)
    ]
    data = tmp_path / "lama.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    assert (
        main(["evaluate", str(data), "--model", str(tiny_bert_dir), "--output", str(tmp_path / "out")]) == 0
    )
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert sorted(metrics["by_relation"]) == ["P0", "P1", "P2"]
    assert sum(r["masks_scored"] for r in metrics["by_relation"].values()) == metrics["masks_scored"] == 30
    expected_top1 = (
        sum(
            pipeline_candidates(fill_mask_pipeline, row["masked_sentences"][0])[0][0]["token_str"]
            == row["obj_label"]
            for row in rows
        )
        / 30
    )
    assert metrics["top1_accuracy"] == pytest.approx(expected_top1)


def test_generic_csv_needs_its_columns(tmp_path: Path) -> None:
    data = tmp_path / "g.csv"
    data.write_text('sentence,answer\n"the [MASK] sat .",dog\n')
    examples, skipped = load_examples(data, "auto", "sentence", "answer")
    assert [(e.text, e.golds) for e in examples] == [("the [MASK] sat .", ["dog"])] and skipped == 0
    with pytest.raises(DatasetError, match="--text-column"):
        load_examples(data)


def test_pseudo_perplexity_equals_masking_each_token_in_turn(
    tmp_path: Path, tiny_bert_dir: Path, fill_mask_pipeline: Any
) -> None:
    texts = ["the dog sat on the [MASK] .", "Paris is the [MASK] of France !"]
    golds = ["house", "capital"]
    data = tmp_path / "d.jsonl"
    data.write_text(
        "\n".join(json.dumps({"input_string": t, "masks": [g]}) for t, g in zip(texts, golds, strict=True))
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                str(data),
                "--model",
                str(tiny_bert_dir),
                "--output",
                str(out),
                "--pseudo-perplexity",
            ]
        )
        == 0
    )
    model, tokenizer = fill_mask_pipeline.model, fill_mask_pipeline.tokenizer
    total, count = 0.0, 0
    for text, gold in zip(texts, golds, strict=True):
        ids = tokenizer(text.replace("[MASK]", gold))["input_ids"]
        for position in range(1, len(ids) - 1):
            masked = list(ids)
            masked[position] = tokenizer.mask_token_id
            with torch.inference_mode():
                logits = model(input_ids=torch.tensor([masked])).logits[0, position]
            total += logits.log_softmax(-1)[ids[position]].item()
            count += 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pseudo_perplexity"] == pytest.approx(math.exp(-total / count), rel=1e-4)
