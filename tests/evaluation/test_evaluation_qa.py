"""`python -m app evaluate` on a QA checkpoint: the best span, scored with SQuAD v1.1's formulas
written out here again as the official `evaluate-v1.1.py` has them."""

import re
import string
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer, BertForQuestionAnswering

from tests.evaluation.test_evaluation_tasks import PNG, evaluate, sentence, write_jsonl


def squad_normalize(text: str) -> str:
    """SQuAD v1.1's normalize_answer, written out again as the official script has it."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_f1(prediction: str, gold: str) -> float:
    prediction_tokens, gold_tokens = squad_normalize(prediction).split(), squad_normalize(gold).split()
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_span(model: Any, tokenizer: Any, question: str, context: str) -> str:
    """The span of highest start + end logit over every valid pair (inside the context, ≤ 30 tokens)."""
    encoding = tokenizer(question, context, return_offsets_mapping=True, return_tensors="pt")
    offsets = encoding.pop("offset_mapping")[0].tolist()
    with torch.inference_mode():
        outputs = model(**encoding)
    start_logits, end_logits = outputs.start_logits[0].tolist(), outputs.end_logits[0].tolist()
    inside = [i for i, sequence in enumerate(encoding.sequence_ids()) if sequence == 1]
    best = max(
        ((start_logits[s] + end_logits[e], s, e) for s in inside for e in inside if s <= e < s + 30),
        key=lambda candidate: candidate[0],
    )
    return context[offsets[best[1]][0] : offsets[best[2]][1]]


def test_qa_predictions_are_the_best_span_and_metrics_are_squad_v1(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    model_dir = tiny_task_dir("question-answering")
    rows = []
    for i in range(10):
        context = sentence(i, 9) + " ."  # with the question, under 20 tokens: the n-best see them all
        words = context.split()
        golds = [" ".join(words[i % 4 : i % 4 + 2]), f"The {words[5]}!", words[(i + 3) % 9]]
        rows.append({"id": str(i), "question": "who is the king ?", "context": context, "answers": golds})
    rows.append({"id": "none", "question": "who ?", "context": "the dog", "answers": []})
    data = write_jsonl(tmp_path / "squad.jsonl", rows)
    metrics, predictions, out = evaluate(tmp_path, str(data), "--model", str(model_dir))

    model = BertForQuestionAnswering.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    answered = rows[:10]
    expected = [best_span(model, tokenizer, row["question"], row["context"]) for row in answered]
    assert [p["prediction"] for p in predictions] == expected
    exact = [
        max(squad_normalize(p) == squad_normalize(g) for g in row["answers"])
        for p, row in zip(expected, answered, strict=True)
    ]
    f1 = [max(squad_f1(p, g) for g in row["answers"]) for p, row in zip(expected, answered, strict=True)]
    assert metrics["examples"] == 10 and metrics["examples_skipped"] == {"no gold answer": 1}
    assert metrics["exact_match"] == pytest.approx(100 * sum(exact) / 10)
    assert metrics["f1"] == pytest.approx(100 * sum(f1) / 10)
    assert 0 < metrics["f1"] < 100
    assert (out / "f1_per_question.png").read_bytes()[:8] == PNG


def test_squad_normalisation_drops_case_punctuation_articles_and_spaces() -> None:
    from app.evaluation.squad_metrics import best_exact_match, best_f1, normalize_answer

    assert normalize_answer("  The  Capital, of an  Empire!") == "capital of empire"
    assert best_exact_match("the Capital.", ["a city", "capital"]) == 1.0
    assert best_f1("capital of France", ["the capital city"]) == pytest.approx(
        squad_f1("capital of France", "the capital city")
    )
    assert best_f1("capital of France", ["the capital city"]) == pytest.approx(0.4)
