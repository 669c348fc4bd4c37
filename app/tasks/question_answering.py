"""Extractive question answering, with transformers' `run_qa` post-processing.

The question and its context are read in windows of `max_seq_length` tokens (question
included) that overlap by `doc_stride` tokens when the context is longer. In each window the
`n_best` start and end logits are paired; a span must lie inside the context, end after it
starts and be at most `max_answer_length` tokens long; its score is start + end logit. The best
span over all windows wins; no qualifying span answers the empty string. Scores are softmax
probabilities over the n-best spans' summed logits, as `run_qa` reports them.

With `handle_impossible_answer` the empty answer competes too, scored as `run_qa
--version_2_with_negative` scores it: the [CLS] start + end logit of the window where that is
lowest; it joins the n-best (added back if it fell out) and wins where it scores highest.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.config import TaskName
from app.errors import InvalidInputError
from app.tasks.base import Encoded, Feature, pad_features, pad_token_id

MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
N_BEST = 20
MAX_ANSWER_LENGTH = 30


@dataclass(frozen=True)
class QuestionAnsweringOptions:
    top_k: int = 1
    max_answer_length: int = MAX_ANSWER_LENGTH
    doc_stride: int = DOC_STRIDE
    max_seq_length: int = MAX_SEQ_LENGTH
    handle_impossible_answer: bool = False


@dataclass(frozen=True)
class Span:
    answer: str
    score: float
    start: int  # character offsets into the context
    end: int


@dataclass(frozen=True, slots=True)
class WindowFeature(Feature):
    """`offsets[i]`: the context characters of token i, or None outside the context."""

    offsets: tuple[tuple[int, int] | None, ...] = ()


class QuestionAnsweringTask:
    name: TaskName = "question-answering"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.pad_token_id = pad_token_id(tokenizer)
        self.max_tokens: int = model.config.max_position_embeddings

    def encode(
        self, examples: Sequence[tuple[str, str]], options: QuestionAnsweringOptions
    ) -> list[Encoded[WindowFeature] | InvalidInputError]:
        encoded: list[Encoded[WindowFeature] | InvalidInputError] = []
        for index, (question, context) in enumerate(examples):
            try:
                encoded.append(Encoded(self._windows(index, question, context, options), context=context))
            except InvalidInputError as exc:
                encoded.append(exc)
        return encoded

    def _windows(
        self, index: int, question: str, context: str, options: QuestionAnsweringOptions
    ) -> list[WindowFeature]:
        max_length = min(options.max_seq_length, self.max_tokens)
        question = question.lstrip()  # run_qa strips it: leading spaces waste window room
        question_tokens = len(self.tokenizer(question, add_special_tokens=False)["input_ids"])
        room = max_length - question_tokens - self.tokenizer.num_special_tokens_to_add(pair=True)
        if room <= options.doc_stride:
            raise InvalidInputError(
                f"Input {index}: the question is {question_tokens} tokens long; with doc_stride "
                f"{options.doc_stride} the model reads at most {max_length - options.doc_stride - 3} "
                "tokens of question. Shorten the question."
            )
        encoding = self.tokenizer(
            question,
            context,
            truncation="only_second",
            max_length=max_length,
            stride=options.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        windows = []
        for window in range(len(encoding["input_ids"])):
            sequence_ids = encoding.sequence_ids(window)
            offsets = tuple(
                (int(span[0]), int(span[1])) if sequence_ids[position] == 1 else None
                for position, span in enumerate(encoding["offset_mapping"][window])
            )
            token_types = encoding.get("token_type_ids")
            windows.append(
                WindowFeature(
                    list(encoding["input_ids"][window]),
                    list(token_types[window]) if token_types is not None else None,
                    offsets,
                )
            )
        return windows

    @torch.inference_mode()
    def forward(self, features: Sequence[WindowFeature]) -> list[tuple[list[float], list[float]]]:
        """Per window, its start and end logits (padding cut off)."""
        batch = pad_features(features, self.pad_token_id, self.model.device)
        outputs = self.model(**batch.model_inputs())
        starts, ends = outputs.start_logits.float().tolist(), outputs.end_logits.float().tolist()
        return [
            (starts[row][: len(feature.input_ids)], ends[row][: len(feature.input_ids)])
            for row, feature in enumerate(features)
        ]

    def decode(
        self,
        encoded: Encoded[WindowFeature],
        outputs: list[tuple[list[float], list[float]]],
        options: QuestionAnsweringOptions,
    ) -> list[Span]:
        """The `top_k` best spans, best first; [Span("", ...)] when none qualifies."""
        context: str = encoded.context
        candidates: list[tuple[float, int, int]] = []
        for feature, (start_logits, end_logits) in zip(encoded.features, outputs, strict=True):
            candidates += _window_spans(feature.offsets, start_logits, end_logits, options.max_answer_length)
        null = (min(s[0] + e[0] for s, e in outputs), 0, 0) if options.handle_impossible_answer else None
        if null is not None:
            candidates.append(null)
        best = sorted(candidates, key=lambda candidate: -candidate[0])[:N_BEST]
        if null is not None and not any(candidate is null for candidate in best):
            best.append(null)
        if not best:
            return [Span("", 0.0, 0, 0)]
        top = best[0][0]
        weights = [math.exp(score - top) for score, _, _ in best]
        total = sum(weights)
        return [
            Span(context[start:end], weight / total, start, end)
            for (_, start, end), weight in zip(best[: options.top_k], weights, strict=False)
        ]


def _window_spans(
    offsets: tuple[tuple[int, int] | None, ...],
    start_logits: list[float],
    end_logits: list[float],
    max_answer_length: int,
) -> list[tuple[float, int, int]]:
    """(score, start char, end char) of every qualifying pair of the n-best starts and ends."""
    starts = sorted(range(len(start_logits)), key=lambda i: -start_logits[i])[:N_BEST]
    ends = sorted(range(len(end_logits)), key=lambda i: -end_logits[i])[:N_BEST]
    spans = []
    for start in starts:
        for end in ends:
            start_span, end_span = offsets[start], offsets[end]
            if start_span is None or end_span is None:
                continue
            if end < start or end - start + 1 > max_answer_length:
                continue
            spans.append((start_logits[start] + end_logits[end], start_span[0], end_span[1]))
    return spans
