"""`python -m app evaluate DATA`: how well a checkpoint fills masks.

Per mask, on exact `token_str` match: accuracy@k and MRR@top-k, by relation when the data has
one; gold strings that are not one token of the vocabulary are counted apart, never scored as
wrong. Optionally the pseudo-perplexity of the unmasked texts (Salazar et al., 2020), the
masked-LM counterpart of Azure's `perplexities` metric.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from app.engine.batching import BatchLimits
from app.errors import InvalidInputError
from app.evaluation.fill_mask_data import EvalExample
from app.evaluation.fill_mask_metrics import MaskOutcome, summarize
from app.evaluation.fill_mask_report import write_chart, write_report
from app.evaluation.prediction import predict_with_progress
from app.tasks.fill_mask import FillMaskOptions, FillMaskTask, MaskCandidates


@dataclass(frozen=True)
class EvalOptions:
    output_dir: Path
    top_k: int = 10
    pseudo_perplexity: bool = False
    max_batch_tokens: int = 4096
    max_batch_size: int = 32


def evaluate(
    model: FillMaskTask, examples: list[EvalExample], options: EvalOptions, skipped: int = 0
) -> dict[str, Any]:
    options.output_dir.mkdir(parents=True, exist_ok=True)
    vocabulary = model.tokenizer.get_vocab()
    outcomes: list[MaskOutcome] = []
    unscorable: dict[str, int] = {}
    scored_examples = 0
    answers = predict_with_progress(
        model,
        [e.text for e in examples],
        FillMaskOptions(options.top_k),
        BatchLimits(options.max_batch_tokens, options.max_batch_size),
    )
    with (options.output_dir / "predictions.jsonl").open("w", encoding="utf-8") as predictions:
        for example, answer in zip(examples, answers, strict=True):
            if isinstance(answer, InvalidInputError):
                reason = answer.message.split(": ", 1)[-1] if ": " in answer.message else "no mask"
                unscorable[reason] = unscorable.get(reason, 0) + 1
                continue
            scored_examples += 1
            example_outcomes = [
                _outcome(model, vocabulary, gold, candidates, example.relation)
                for gold, candidates in zip(example.golds, answer, strict=True)
            ]
            outcomes += example_outcomes
            predictions.write(json.dumps(_prediction_record(example, answer, example_outcomes)) + "\n")

    metrics = summarize(outcomes, scored_examples, options.top_k)
    metrics["examples_skipped"] = {"masks_and_golds_do_not_pair": skipped, **unscorable}
    if options.pseudo_perplexity:
        metrics["pseudo_perplexity"] = pseudo_perplexity(model, examples, options.max_batch_tokens)
    (options.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_report(metrics, options.output_dir / "report.md")
    write_chart(metrics, options.output_dir / "accuracy_at_k.png")
    return metrics


def pseudo_perplexity(model: FillMaskTask, examples: list[EvalExample], max_batch_tokens: int) -> float:
    """exp of minus the mean pseudo-log-likelihood per token, over every unmasked text."""
    total, tokens = 0.0, 0
    for example in tqdm(examples, unit="texts", desc="pseudo-perplexity"):
        log_probs = model.token_log_probs(model.tokenizer(example.unmasked())["input_ids"], max_batch_tokens)
        total += sum(log_probs)
        tokens += len(log_probs)
    return math.exp(-total / tokens) if tokens else float("nan")


def _outcome(
    model: FillMaskTask, vocabulary: dict[str, int], gold: str, candidates: list[Any], relation: str | None
) -> MaskOutcome:
    token = vocabulary.get(gold)
    single_token = token is not None and model.token_string(token) == gold
    rank = (
        next((i + 1 for i, c in enumerate(candidates) if c.token_str == gold), None) if single_token else None
    )
    return MaskOutcome(gold, single_token, rank, relation)


def _prediction_record(
    example: EvalExample, answer: MaskCandidates, outcomes: list[MaskOutcome]
) -> dict[str, Any]:
    return {
        "input": example.text,
        "relation": example.relation,
        "masks": [
            {
                "gold": outcome.gold,
                "gold_is_single_token": outcome.single_token,
                "rank": outcome.rank,
                "candidates": [
                    {"token_str": c.token_str, "token": c.token, "score": c.score} for c in candidates
                ],
            }
            for outcome, candidates in zip(outcomes, answer, strict=True)
        ],
    }
