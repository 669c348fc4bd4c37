"""Text classification, of one text or a pair (text, text_pair): the label and its score.

Scores are what transformers' text-classification pipeline computes: softmax over the labels,
or a sigmoid per label for multi-label and single-output heads (the raw output for regression), or
the function a request names as the pipeline's `function_to_apply`. A long input is truncated to
what the model reads (the longest field first), as the pipeline does with `truncation=True`, unless
the options say not to (TEI's `truncate: false`): then it is an error naming the input.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.config import TaskName
from app.errors import InvalidInputError
from app.tasks.base import Encoded, Feature, Scored, label_names, pad_features, pad_token_id

# (text, text_pair or None)
TextPair = tuple[str, str | None]
ScoreFunction = Literal["sigmoid", "softmax", "none"]


@dataclass(frozen=True)
class ClassificationOptions:
    top_k: int | None = 1  # None: every label
    function_to_apply: ScoreFunction | None = None  # None: the head's own, as the pipeline picks it
    truncate: bool = True


@dataclass(frozen=True)
class LabelScores:
    """One input's scores by the head's own function, and the logits for any other."""

    scores: list[float]
    logits: list[float]


class TextClassificationTask:
    name: TaskName = "text-classification"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = label_names(model.config)
        self.pad_token_id = pad_token_id(tokenizer)
        self.max_tokens: int = model.config.max_position_embeddings
        problem = model.config.problem_type
        self.use_sigmoid = problem == "multi_label_classification" or (
            problem != "regression" and model.config.num_labels == 1
        )
        self.raw_scores = problem == "regression"

    def encode(
        self, examples: Sequence[TextPair], options: ClassificationOptions
    ) -> list[Encoded[Feature] | InvalidInputError]:
        return encode_pairs(self.tokenizer, examples, self.max_tokens, options.truncate)

    @torch.inference_mode()
    def forward(self, features: Sequence[Feature]) -> list[LabelScores]:
        batch = pad_features(features, self.pad_token_id, self.model.device)
        logits = self.model(**batch.model_inputs()).logits.float()
        if self.raw_scores:
            scores = logits
        elif self.use_sigmoid:
            scores = logits.sigmoid()
        else:
            scores = logits.softmax(dim=-1)
        return [
            LabelScores(row, logit_row)
            for row, logit_row in zip(scores.tolist(), logits.tolist(), strict=True)
        ]

    def decode(
        self, encoded: Encoded[Feature], outputs: list[LabelScores], options: ClassificationOptions
    ) -> list[Scored]:
        """The `top_k` best labels, best first."""
        (output,) = outputs
        scores = output.scores
        if options.function_to_apply is not None:
            scores = apply_function(options.function_to_apply, output.logits)
        return rank_labels(self.labels, scores, options.top_k)


def apply_function(function: ScoreFunction, logits: list[float]) -> list[float]:
    """The pipeline's `function_to_apply` on one input's logits."""
    if function == "none":
        return list(logits)
    if function == "sigmoid":
        return [_sigmoid(logit) for logit in logits]
    top = max(logits)
    weights = [math.exp(logit - top) for logit in logits]
    total = sum(weights)
    return [weight / total for weight in weights]


def _sigmoid(logit: float) -> float:
    if logit >= 0:
        return 1 / (1 + math.exp(-logit))
    weight = math.exp(logit)  # never overflows for a negative logit
    return weight / (1 + weight)


def rank_labels(labels: list[str], scores: list[float], top_k: int | None) -> list[Scored]:
    order = sorted(range(len(scores)), key=lambda index: -scores[index])
    return [Scored(labels[index], scores[index]) for index in order[:top_k]]


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[TextPair], max_tokens: int, truncate: bool = True
) -> list[Encoded[Feature] | InvalidInputError]:
    """One feature per (text, pair), truncated longest-first to `max_tokens`; without `truncate`, an
    over-long input is an error naming it."""
    features: list[Encoded[Feature] | InvalidInputError] = []
    for index, (text, pair) in enumerate(examples):
        encoding = tokenizer(text, pair, truncation=truncate, max_length=max_tokens if truncate else None)
        length = len(encoding["input_ids"])
        if length > max_tokens:
            features.append(
                InvalidInputError(
                    f"Input {index} is {length} tokens long; the model reads at most {max_tokens}. "
                    "Shorten it, or ask to truncate it."
                )
            )
            continue
        segments = encoding.get("token_type_ids") if pair is not None else None
        features.append(Encoded([Feature(list(encoding["input_ids"]), list(segments) if segments else None)]))
    return features
