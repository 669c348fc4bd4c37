"""Token classification (NER): one tag per word, read at the word's first sub-token.

Words are the input's whitespace-separated pieces, or the tokens given (CoNLL style), as Azure's
NER predictor reads them. An input longer than the model reads is split into windows of whole
words, so every word gets a tag.

With `entities` in the options, the inputs are texts answered as transformers' pipeline answers
them instead (`app.tasks.token_entities`); both kinds of feature share batches.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.config import TaskName
from app.errors import InvalidInputError
from app.tasks.base import Encoded, Feature, label_names, pad_features, pad_token_id
from app.tasks.token_entities import EntityOptions, TokensFeature, encode_text, entities, entity_pipeline

WORD = re.compile(r"\S+")
# The tag of a word the tokenizer turns into no token at all (a lone combining mark, say).
OUTSIDE = "O"


@dataclass(frozen=True)
class Words:
    """The words of one input and where each lies in the text (for tokens given as a list,
    the text is the tokens joined by single spaces)."""

    words: list[str]
    spans: list[tuple[int, int]]

    @classmethod
    def from_text(cls, text: str) -> "Words":
        matches = list(WORD.finditer(text))
        return cls([match.group() for match in matches], [match.span() for match in matches])

    @classmethod
    def from_tokens(cls, tokens: list[str]) -> "Words":
        spans, start = [], 0
        for token in tokens:
            spans.append((start, start + len(token)))
            start += len(token) + 1
        return cls(list(tokens), spans)


@dataclass(frozen=True)
class WordTag:
    word: str
    entity: str
    score: float
    start: int
    end: int


@dataclass(frozen=True)
class TokenClassificationOptions:
    with_scores: bool = False
    entities: EntityOptions | None = None  # set: texts in, the pipeline's entities out


@dataclass(frozen=True, slots=True)
class WordsFeature(Feature):
    """A window of whole words: `word_indices[i]` starts at token position `first_positions[i]`."""

    word_indices: tuple[int, ...] = ()
    first_positions: tuple[int, ...] = ()


class TokenClassificationTask:
    name: TaskName = "token-classification"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = label_names(model.config)
        self.pad_token_id = pad_token_id(tokenizer)
        self.max_tokens: int = model.config.max_position_embeddings
        self.outside = OUTSIDE if OUTSIDE in self.labels else self.labels[0]

    @cached_property
    def max_length(self) -> int:
        """Tokens in one window of the pipeline's: the tokenizer's limit, within the model's."""
        return min(int(self.tokenizer.model_max_length), self.max_tokens)

    @cached_property
    def _entity_pipeline(self) -> Any:
        return entity_pipeline(self.model, self.tokenizer)

    def encode(
        self, examples: Sequence[Any], options: TokenClassificationOptions
    ) -> list[Encoded[Any] | InvalidInputError]:
        """`Words` per example; texts (`str`) where the options ask for entities."""
        if options.entities is not None:
            return self._encode_texts(examples, options.entities)
        encoded: list[Encoded[Any] | InvalidInputError] = []
        for index, words in enumerate(examples):
            if not words.words:
                encoded.append(InvalidInputError(f"Input {index} has no words to tag."))
            else:
                encoded.append(Encoded(self._windows(words.words), context=words))
        return encoded

    def _encode_texts(
        self, texts: Sequence[str], options: EntityOptions
    ) -> list[Encoded[Any] | InvalidInputError]:
        encoded: list[Encoded[Any] | InvalidInputError] = []
        for index, text in enumerate(texts):
            try:
                encoded.append(
                    Encoded(encode_text(self.tokenizer, text, index, options, self.max_length), text)
                )
            except InvalidInputError as exc:
                encoded.append(exc)
        return encoded

    def _windows(self, words: list[str]) -> list[WordsFeature]:
        """Whole words per window, as many as fit between [CLS] and [SEP]."""
        room = self.max_tokens - self.tokenizer.num_special_tokens_to_add()
        pieces = self.tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        counts = [0] * len(words)
        for word_index in pieces.word_ids():
            if word_index is not None:
                counts[word_index] += 1
        windows: list[list[int]] = [[]]
        used = 0
        for word_index, count in enumerate(counts):
            if windows[-1] and used + count > room:
                windows.append([])
                used = 0
            windows[-1].append(word_index)
            used += count
        return [self._feature(words, window, room) for window in windows]

    def _feature(self, words: list[str], window: list[int], room: int) -> WordsFeature:
        encoding = self.tokenizer(
            [words[i] for i in window], is_split_into_words=True, truncation=True, max_length=room + 2
        )
        word_indices, first_positions, previous = [], [], None
        for position, local in enumerate(encoding.word_ids()):
            if local is not None and local != previous:
                word_indices.append(window[local])
                first_positions.append(position)
            previous = local
        return WordsFeature(list(encoding["input_ids"]), None, tuple(word_indices), tuple(first_positions))

    @torch.inference_mode()
    def forward(self, features: Sequence[WordsFeature | TokensFeature]) -> list[Any]:
        """Per words feature, per word it starts: (word index, best label id, its probability); per
        tokens feature, its logits."""
        batch = pad_features(features, self.pad_token_id, self.model.device)
        logits = self.model(**batch.model_inputs()).logits.float()
        probabilities = logits.softmax(dim=-1)
        best_scores, best_labels = probabilities.max(dim=-1)
        outputs: list[Any] = []
        for row, feature in enumerate(features):
            if isinstance(feature, TokensFeature):
                outputs.append(logits[row, : len(feature.input_ids)].cpu())
                continue
            positions = list(feature.first_positions)
            labels = best_labels[row, positions].tolist()
            scores = best_scores[row, positions].tolist()
            outputs.append(list(zip(feature.word_indices, labels, scores, strict=True)))
        return outputs

    def decode(
        self, encoded: Encoded[Any], outputs: list[Any], options: TokenClassificationOptions
    ) -> list[WordTag] | list[dict[str, Any]]:
        if options.entities is not None:
            return entities(
                self._entity_pipeline, encoded.context, encoded.features, outputs, options.entities
            )
        words: Words = encoded.context
        tagged = {word_index: (label, score) for output in outputs for word_index, label, score in output}
        tags = []
        for index, (word, (start, end)) in enumerate(zip(words.words, words.spans, strict=True)):
            label, score = tagged.get(index, (None, 0.0))
            entity = self.labels[label] if label is not None else self.outside
            tags.append(WordTag(word, entity, score, start, end))
        return tags
