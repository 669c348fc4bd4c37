"""What every task module provides: encode, forward and decode, as transformers' pipelines split them.

- `encode` turns examples into features: rows of token ids for the model (a long input may make
  several, one per window), each with what decoding needs. It runs on any thread.
- `forward` runs the model on a padded batch of features of one task and returns, per feature,
  only the head outputs decoding needs. The engine calls it on its inference thread.
- `decode` turns one example's feature outputs into its answer.

The engine knows only `Feature.input_ids` (for the token budget) and `forward`.
"""

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import torch

from app.config import TaskName
from app.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Feature:
    """One row for the model. `token_type_ids` is None for a single text (all zeros)."""

    input_ids: list[int]
    token_type_ids: list[int] | None = None


FeatureT = TypeVar("FeatureT", bound=Feature)


@dataclass(frozen=True)
class Encoded(Generic[FeatureT]):
    """One example, encoded: its features (one per window) and what decoding needs."""

    features: list[FeatureT]
    context: Any = None


@dataclass(frozen=True)
class Scored:
    """A label (or tag, or span) and its probability."""

    label: str
    score: float


OptionsT = TypeVar("OptionsT", contravariant=True)


class Task(Protocol[OptionsT]):
    name: TaskName

    def encode(self, examples: Sequence[Any], options: OptionsT) -> list[Encoded[Any] | InvalidInputError]:
        """Each example's features, or the error that keeps it from the model, in order."""
        ...

    def forward(self, features: Sequence[Any]) -> list[Any]:
        """Head outputs per feature, for one padded batch."""
        ...

    def decode(self, encoded: Encoded[Any], outputs: list[Any], options: OptionsT) -> Any:
        """One example's answer from the outputs of its features."""
        ...


@dataclass
class PaddedBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None = field(default=None)

    def model_inputs(self) -> dict[str, torch.Tensor]:
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.token_type_ids is not None:
            inputs["token_type_ids"] = self.token_type_ids
        return inputs


def pad_features(features: Sequence[Feature], pad_token_id: int, device: torch.device) -> PaddedBatch:
    """Rows padded on the right to the longest; segment ids only when some feature has them.

    The rows are padded as Python lists and become tensors in one call each: a tensor per row
    costs more than the model's forward for small models."""
    longest = max(len(feature.input_ids) for feature in features)
    padding = [longest - len(feature.input_ids) for feature in features]
    rows = list(zip(features, padding, strict=True))
    input_ids = [feature.input_ids + [pad_token_id] * pad for feature, pad in rows]
    attention_mask = [[1] * (longest - pad) + [0] * pad for pad in padding]
    token_type_ids = None
    if any(feature.token_type_ids is not None for feature in features):
        token_type_ids = [
            (feature.token_type_ids if feature.token_type_ids is not None else [0] * (longest - pad))
            + [0] * pad
            for feature, pad in rows
        ]
    return PaddedBatch(
        torch.tensor(input_ids, dtype=torch.long, device=device),
        torch.tensor(attention_mask, dtype=torch.long, device=device),
        torch.tensor(token_type_ids, dtype=torch.long, device=device) if token_type_ids is not None else None,
    )


def first_error(encoded: list[Encoded[Any] | InvalidInputError]) -> InvalidInputError | None:
    return next((item for item in encoded if isinstance(item, InvalidInputError)), None)


def label_names(config: Any) -> list[str]:
    """The head's label names in id order, from config.id2label."""
    id2label: dict[int, str] = config.id2label or {}
    return [str(id2label[index]) for index in range(int(config.num_labels))]


def pad_token_id(tokenizer: Any) -> int:
    """The id padding uses; 0 (BERT's [PAD]) for a tokenizer that names none."""
    return int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else 0


# Up to this many characters, texts are tokenized holding the GIL (see `encodings_of`).
GIL_HELD_CHARACTERS = 1_000


def input_ids_of(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """`tokenizer(texts)["input_ids"]`, holding on to the GIL for short texts where the tokenizer
    allows it (`encodings_of`). `__call__` (without truncation or padding, as here) turns off any
    truncation or padding the Rust tokenizer was saved with (sentence-transformers' folders pad to
    128): so does the copy `encode` runs on.
    """
    plain = plain_backend(tokenizer)
    if plain is None:
        return [list(ids) for ids in tokenizer(list(texts))["input_ids"]]
    return [encoding.ids for encoding in encodings_of(plain, texts)]


def encodings_of(backend: Any, texts: Sequence[str], add_special_tokens: bool = True) -> list[Any]:
    """The Rust tokenizer's encodings of `texts`: short ones by `encode`, which keeps the GIL, long
    ones by `encode_batch`, which lets go of it.

    On the event loop under load, getting the GIL back from the inference thread can take a whole
    switch interval (5 ms) for a sentence that takes 40 µs to tokenize: short texts keep it. A long
    one is tokenized off the loop, and holding the GIL for it (35 ms per 100,000 characters) would
    stop the loop just the same: eight requests of ten such texts kept liveness waiting for seconds.
    """
    if sum(len(text) for text in texts) <= GIL_HELD_CHARACTERS:
        return [backend.encode(text, add_special_tokens=add_special_tokens) for text in texts]
    return list(backend.encode_batch(list(texts), add_special_tokens=add_special_tokens))


def plain_backend(tokenizer: Any) -> Any:
    """The fast tokenizer's Rust tokenizer without the truncation or padding it was saved with (a
    cached copy; itself where it has neither), or None for a slow tokenizer. Its `encode` keeps
    the GIL and gives ids, offsets and the special-tokens mask of one text."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    plain = _PLAIN_BACKENDS.get(backend)
    if plain is None:
        plain = backend
        if backend.truncation is not None or backend.padding is not None:
            plain = type(backend).from_str(backend.to_str())
            plain.no_truncation()
            plain.no_padding()
        _PLAIN_BACKENDS[backend] = plain
    return plain


# Each Rust tokenizer's copy without truncation or padding (itself where it has neither).
_PLAIN_BACKENDS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
