"""Fill-mask: the top candidates at each mask. The prediction head runs only at mask positions.

BertForMaskedLM would compute 28,996 logits for every token, about a fifth of all the model's
FLOPs, only to drop them.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.config import TaskName
from app.errors import InvalidInputError, ModelLoadError
from app.tasks.base import Encoded, Feature, input_ids_of, pad_features, pad_token_id
from app.tasks.fill_mask_pipeline import completed_sequences, resolve_targets
from app.tasks.mask_spelling import normalize_masks
from app.tasks.windowing import window_around_masks

logger = logging.getLogger(__name__)

# Attribute names of the masked-LM head in transformers' *ForMaskedLM classes.
HEAD_ATTRIBUTES = ("cls", "lm_head", "predictions")
DEFAULT_BATCH_SIZE = 16
NO_MASK = "has no mask: write [MASK] (any case) or <mask> where the word goes."


@dataclass(frozen=True, slots=True)
class Candidate:
    token_str: str
    token: int
    score: float
    # The input completed with this candidate, as the fill-mask pipeline's `sequence` (when asked).
    sequence: str | None = None


# One input's answer: for each mask, its candidates, best first.
MaskCandidates = list[list[Candidate]]
# predictions[input][mask] -> candidates, best first
Predictions = list[MaskCandidates]


@dataclass(frozen=True)
class FillMaskOptions:
    top_k: int = 1
    # Only these words compete (the pipeline's `targets`): scores stay probabilities over the vocabulary.
    targets: tuple[str, ...] | None = None
    with_sequences: bool = False


@dataclass(frozen=True, slots=True)
class MaskedFeature(Feature):
    top_k: int = 1
    target_ids: tuple[int, ...] | None = None


class FillMaskTask:
    """The fill-mask task on a loaded masked LM (encode, forward, decode), plus offline helpers."""

    name: TaskName = "fill-mask"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, source: str) -> None:
        if tokenizer.mask_token is None or tokenizer.mask_token_id is None:
            raise ModelLoadError(f"The tokenizer of '{source}' defines no mask token; it cannot fill masks.")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.source = source
        self.mask_token: str = tokenizer.mask_token
        self.mask_token_id: int = tokenizer.mask_token_id
        self.max_tokens = model.config.max_position_embeddings
        # Windowing keeps one special token at each end: true of BERT-style tokenizers.
        self._can_window = tokenizer.num_special_tokens_to_add() == 2
        self.pad_token_id = pad_token_id(tokenizer)
        self._encoder, self._head = _split_encoder_and_head(model)
        self._token_strings: dict[int, str] = {}

    @property
    def device(self) -> torch.device:
        device: torch.device = self.model.device
        return device

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, which must already spell its masks as `mask_token`.

        A text longer than the model reads becomes a window around its masks (app.tasks.windowing).
        The first text that cannot be scored raises InvalidInputError naming its index.
        """
        encodings = []
        for encoding in self.token_ids_each(texts):
            if isinstance(encoding, InvalidInputError):
                raise encoding
            encodings.append(encoding)
        return encodings

    def token_ids_each(self, texts: list[str]) -> list[list[int] | InvalidInputError]:
        """Like `token_ids`, but each text that cannot be scored gets its error in its place."""
        encodings: list[list[int] | InvalidInputError] = []
        if not texts:  # the tokenizer fails on an empty batch
            return encodings
        for index, input_ids in enumerate(input_ids_of(self.tokenizer, texts)):
            try:
                encodings.append(self._fit(index, input_ids))
            except InvalidInputError as exc:
                encodings.append(exc)
        return encodings

    def _fit(self, index: int, input_ids: list[int]) -> list[int]:
        if self.mask_token_id not in input_ids:
            raise InvalidInputError(f"Input {index} has no mask token after tokenization.")
        if len(input_ids) <= self.max_tokens:
            return input_ids
        if not self._can_window:
            raise InvalidInputError(
                f"Input {index} is {len(input_ids)} tokens long; the model reads at most {self.max_tokens}."
            )
        return window_around_masks(input_ids, self.mask_token_id, self.max_tokens, index)

    def encode(
        self, texts: Sequence[str], options: FillMaskOptions
    ) -> list[Encoded[MaskedFeature] | InvalidInputError]:
        """Masks in any spelling; each text becomes one feature (a window around its masks if long).

        With `with_sequences`, the context of a windowed text holds all its token ids, for decode to
        complete the whole text rather than the window.
        """
        normalized = [normalize_masks(text, self.mask_token) for text in texts]
        target_ids = resolve_targets(self.tokenizer, options.targets) if options.targets is not None else None
        encoded: list[Encoded[MaskedFeature] | InvalidInputError] = []
        for index, (text, ids) in enumerate(zip(normalized, self.token_ids_each(normalized), strict=True)):
            if self.mask_token not in text:
                encoded.append(InvalidInputError(f"Input {index} {NO_MASK}"))
            elif isinstance(ids, InvalidInputError):
                encoded.append(ids)
            elif isinstance(target_ids, InvalidInputError):
                encoded.append(target_ids)
            else:
                feature = MaskedFeature(ids, top_k=options.top_k, target_ids=target_ids)
                windowed = options.with_sequences and len(ids) >= self.max_tokens
                whole = input_ids_of(self.tokenizer, [text])[0] if windowed else None
                encoded.append(Encoded([feature], context=whole))
        return encoded

    def forward(self, features: Sequence[MaskedFeature]) -> list[list[list[Candidate]]]:
        top_k = max(feature.top_k for feature in features)
        targets = [feature.target_ids for feature in features]
        return self.predict_encoded([feature.input_ids for feature in features], top_k, targets)

    def decode(
        self, encoded: Encoded[MaskedFeature], outputs: list[MaskCandidates], options: FillMaskOptions
    ) -> MaskCandidates:
        (masks,) = outputs
        masks = [candidates[: options.top_k] for candidates in masks]
        if options.with_sequences:
            whole = encoded.context or encoded.features[0].input_ids
            tokens = [[candidate.token for candidate in candidates] for candidates in masks]
            sequences = completed_sequences(self.tokenizer, self.mask_token_id, whole, tokens)
            return [
                [replace(candidate, sequence=sequence) for candidate, sequence in zip(*pair, strict=True)]
                for pair in zip(masks, sequences, strict=True)
            ]
        return masks

    def predict(self, texts: list[str], top_k: int = 1, batch_size: int = DEFAULT_BATCH_SIZE) -> Predictions:
        """Offline use: encode, batch by similar length, predict; answers in input order."""
        encodings = self.token_ids(texts)
        predictions: Predictions = [[] for _ in texts]
        order = sorted(range(len(texts)), key=lambda index: len(encodings[index]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            answers = self.predict_encoded([encodings[i] for i in batch], top_k)
            for index, masks in zip(batch, answers, strict=True):
                predictions[index] = masks
        return predictions

    @torch.inference_mode()
    def predict_encoded(
        self,
        encodings: list[list[int]],
        top_k: int,
        target_ids: Sequence[tuple[int, ...] | None] | None = None,
    ) -> Predictions:
        """One batch: rows are padded to the longest, the head runs only at the masks. An input
        with `target_ids` gets its best targets instead of the vocabulary's best."""
        input_ids, attention_mask = self._pad(encodings)
        is_mask = input_ids == self.mask_token_id
        logits = self._mask_logits(input_ids, attention_mask, is_mask)
        top_k = min(top_k, logits.shape[-1])
        probabilities = logits.float().softmax(dim=-1)
        scores, token_ids = probabilities.topk(top_k, dim=-1)
        scores_rows, token_rows = scores.tolist(), token_ids.tolist()

        predictions: Predictions = []
        row = 0
        for index, input_ids_of_one in enumerate(encodings):
            targets = target_ids[index] if target_ids is not None else None
            masks = []
            for _ in range(input_ids_of_one.count(self.mask_token_id)):
                tokens, token_scores = token_rows[row], scores_rows[row]
                if targets is not None:
                    tokens, token_scores = _best_targets(probabilities[row], targets, top_k)
                masks.append(
                    [
                        Candidate(self.token_string(token), token, score)
                        for token, score in zip(tokens, token_scores, strict=True)
                    ]
                )
                row += 1
            predictions.append(masks)
        return predictions

    @torch.inference_mode()
    def token_log_probs(self, input_ids: list[int], max_batch_tokens: int) -> list[float]:
        """log P(token | all the others) at each non-special position, masking one at a time:
        the terms of pseudo-log-likelihood (Salazar et al., 2020). The copies of one text that
        differ in which token is masked run together, `max_batch_tokens` at a time."""
        input_ids = (
            input_ids[: self.max_tokens - 1] + input_ids[-1:]
            if len(input_ids) > self.max_tokens
            else input_ids
        )
        special = set(self.tokenizer.all_special_ids)
        positions = [position for position, token in enumerate(input_ids) if token not in special]
        copies_per_batch = max(1, max_batch_tokens // len(input_ids))
        log_probs: list[float] = []
        for start in range(0, len(positions), copies_per_batch):
            masked_at = positions[start : start + copies_per_batch]
            rows = torch.arange(len(masked_at))
            copies = torch.tensor([input_ids] * len(masked_at), dtype=torch.long)
            copies[rows, masked_at] = self.mask_token_id
            copies = copies.to(self.device)
            logits = self._mask_logits(copies, torch.ones_like(copies), copies == self.mask_token_id)
            originals = torch.tensor([input_ids[position] for position in masked_at], device=self.device)
            log_probs += logits.float().log_softmax(dim=-1)[rows.to(self.device), originals].tolist()
        return log_probs

    def _pad(self, encodings: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = pad_features([Feature(ids) for ids in encodings], self.pad_token_id, self.device)
        return batch.input_ids, batch.attention_mask

    def _mask_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, is_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits at the mask positions, in input order then position order."""
        if self._encoder is None or self._head is None:
            logits: torch.Tensor = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
            return logits[is_mask]
        hidden: torch.Tensor = self._encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask_logits: torch.Tensor = self._head(hidden[is_mask])
        return mask_logits

    def token_string(self, token: int) -> str:
        """The token as the fill-mask pipeline shows it (`tokenizer.decode([token])`), cached."""
        text = self._token_strings.get(token)
        if text is None:
            text = self._token_strings[token] = str(self.tokenizer.decode([token]))
        return text


def _best_targets(
    probabilities: torch.Tensor, targets: tuple[int, ...], top_k: int
) -> tuple[list[int], list[float]]:
    """The `top_k` most probable of `targets` at one mask, best first."""
    target_tensor = torch.tensor(targets, device=probabilities.device)
    scores, order = probabilities[target_tensor].topk(min(top_k, len(targets)))
    return [targets[position] for position in order.tolist()], scores.tolist()


def _split_encoder_and_head(
    model: PreTrainedModel,
) -> tuple[torch.nn.Module | None, torch.nn.Module | None]:
    encoder = getattr(model, model.base_model_prefix, None)
    for name in HEAD_ATTRIBUTES:
        head = getattr(model, name, None)
        # *ForPreTraining keeps the masked-LM head beside the next-sentence head.
        head = getattr(head, "predictions", head) if hasattr(head, "seq_relationship") else head
        if isinstance(head, torch.nn.Module) and isinstance(encoder, torch.nn.Module):
            return encoder, head
    logger.info("No separable masked-LM head on %s; computing logits at every position", type(model).__name__)
    return None, None
