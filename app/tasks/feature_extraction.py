"""Feature extraction: one vector per text (pooled as the checkpoint's embedding config says), or
one per token on request.

What sentence-transformers' `encode` computes: the encoder's last hidden state, pooled over the
tokens the attention mask keeps (CLS, mean, max or last token), normalized when the model has a
Normalize module. A text longer than the model reads is an error naming it, unless the request (or
the server, AUTO_TRUNCATE) asks to truncate, as text-embeddings-inference does. `dimensions` keeps
the first dimensions (Matryoshka models) and renormalizes what was normalized.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.config import TaskName
from app.errors import InvalidInputError
from app.tasks.base import Encoded, Feature, input_ids_of, pad_features, pad_token_id
from app.tasks.embedding_config import EmbeddingConfig, PoolingMode


@dataclass(frozen=True)
class EmbeddingOptions:
    normalize: bool | None = None  # None: as the model's config says
    truncate: bool | None = None  # None: as the server says (AUTO_TRUNCATE)
    dimensions: int | None = None
    prompt_name: str | None = None  # one of the model's named prompts, put before each text
    per_token: bool = False  # a vector per token instead of one per text


@dataclass(frozen=True, slots=True)
class EmbeddingFeature(Feature):
    per_token: bool = False


@dataclass(frozen=True)
class Embedding:
    """One text's vector; with `per_token`, its tokens' vectors (special tokens included)."""

    vector: list[float]
    tokens: list[list[float]] | None = None
    token_count: int = 0


class FeatureExtractionTask:
    name: TaskName = "feature-extraction"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        config: EmbeddingConfig,
        auto_truncate: bool = False,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.pad_token_id = pad_token_id(tokenizer)
        positions: int = model.config.max_position_embeddings
        self.max_tokens = min(config.max_tokens or positions, positions)
        self.dimensions: int = model.config.hidden_size
        self.vocabulary_size: int = model.config.vocab_size
        self.auto_truncate = auto_truncate

    def configured(self, pooling: PoolingMode | None, auto_truncate: bool) -> "FeatureExtractionTask":
        """The same model as the server sets it: `pooling` (unless None) over the folder's config,
        and whether a request that does not say truncates."""
        config = self.config if pooling is None else replace(self.config, pooling=pooling)
        return FeatureExtractionTask(self.model, self.tokenizer, config, auto_truncate)

    def encode(
        self, inputs: Sequence[str | list[int]], options: EmbeddingOptions
    ) -> list[Encoded[EmbeddingFeature] | InvalidInputError]:
        """Texts, or token ids taken as they are (OpenAI's and TEI's `input` may be either)."""
        prompt = self.prompt(options.prompt_name)
        if isinstance(prompt, InvalidInputError):
            return [prompt for _ in inputs]
        dimensions_error = self._check_dimensions(options.dimensions)
        if dimensions_error is not None:
            return [dimensions_error for _ in inputs]
        # sentence-transformers lowercases what it tokenizes: the prompt with the text.
        texts = [prompt + text for text in inputs if isinstance(text, str)]
        texts = [text.lower() for text in texts] if self.config.lowercase else texts
        tokenized = iter(input_ids_of(self.tokenizer, texts) if texts else [])
        truncate = self.auto_truncate if options.truncate is None else options.truncate
        encoded: list[Encoded[EmbeddingFeature] | InvalidInputError] = []
        for index, given in enumerate(inputs):
            ids = next(tokenized) if isinstance(given, str) else list(given)
            if not ids:
                encoded.append(InvalidInputError(f"Input {index} has no tokens."))
            elif not all(0 <= token < self.vocabulary_size for token in ids):
                encoded.append(
                    InvalidInputError(f"Input {index} has token ids outside 0..{self.vocabulary_size - 1}.")
                )
            elif len(ids) > self.max_tokens and not truncate:
                encoded.append(
                    InvalidInputError(
                        f"Input {index} is {len(ids)} tokens long; the model reads at most "
                        f"{self.max_tokens}. Shorten it, or ask to truncate it."
                    )
                )
            else:
                if len(ids) > self.max_tokens:
                    ids = ids[: self.max_tokens - 1] + ids[-1:]  # keep the closing special token
                encoded.append(Encoded([EmbeddingFeature(ids, per_token=options.per_token)]))
        return encoded

    @torch.inference_mode()
    def forward(self, features: Sequence[EmbeddingFeature]) -> list[Embedding]:
        batch = pad_features(features, self.pad_token_id, self.model.device)
        hidden = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)[0].float()
        pooled = pool(hidden, batch.attention_mask, self.config.pooling)
        lengths = batch.attention_mask.sum(dim=1).tolist()
        outputs = []
        for row, (feature, vector) in enumerate(zip(features, pooled.tolist(), strict=True)):
            tokens = hidden[row, : lengths[row]].tolist() if feature.per_token else None
            outputs.append(Embedding(vector, tokens, int(lengths[row])))
        return outputs

    def decode(
        self, encoded: Encoded[EmbeddingFeature], outputs: list[Embedding], options: EmbeddingOptions
    ) -> Embedding:
        (output,) = outputs
        normalize = self.config.normalize if options.normalize is None else options.normalize
        dimensions = options.dimensions or self.dimensions
        vector = output.vector[:dimensions]
        tokens = [token[:dimensions] for token in output.tokens] if output.tokens is not None else None
        if normalize:
            vector = unit(vector)
            tokens = [unit(token) for token in tokens] if tokens is not None else None
        return Embedding(vector, tokens, output.token_count)

    def prompt(self, name: str | None) -> str | InvalidInputError:
        """The text put before each input: the named prompt, or the model's default one."""
        name = name if name is not None else self.config.default_prompt_name
        if name is None:
            return ""
        if name not in self.config.prompts:
            known = ", ".join(self.config.prompts) or "none"
            return InvalidInputError(f"Unknown prompt_name '{name}'; this model's prompts: {known}.")
        return self.config.prompts[name]

    def _check_dimensions(self, dimensions: int | None) -> InvalidInputError | None:
        if dimensions is not None and not 1 <= dimensions <= self.dimensions:
            return InvalidInputError(
                f"'dimensions' must be between 1 and {self.dimensions}; got {dimensions}."
            )
        return None


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """One vector per row from the token vectors the mask keeps (rows padded on the right)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    if mode == "lasttoken":
        last = attention_mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def unit(vector: list[float]) -> list[float]:
    """L2-normalized, as torch.nn.functional.normalize (a zero vector stays zero)."""
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / max(norm, 1e-12) for value in vector]


def cosine(first: list[float], second: list[float]) -> float:
    """As sentence_transformers.util.cos_sim (a zero vector's cosine is 0)."""
    norms = max(math.sqrt(sum(v * v for v in first)), 1e-12) * max(
        math.sqrt(sum(v * v for v in second)), 1e-12
    )
    return sum(a * b for a, b in zip(first, second, strict=True)) / norms


def similarity_scores(embeddings: Sequence[Embedding]) -> list[float]:
    """The cosine of the first embedding to each of the others."""
    source, *others = embeddings
    return [cosine(source.vector, other.vector) for other in others]
