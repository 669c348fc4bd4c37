"""Token classification as transformers' TokenClassificationPipeline answers it: entities under an
`aggregation_strategy` (none, simple, first, average, max), from every token's logits.

The engine batches the rows with everyone else's; each text's logits then go through the
pipeline's own post-processing (`TokenClassificationPipeline.postprocess`: softmax,
gather_pre_entities, aggregate, ignore_labels, aggregate_overlapping_entities) on a pipeline object
built around the served model and tokenizer, whose forward never runs. Written again here, the
aggregation rules would drift from the pipeline's.

A text longer than the model reads is refused unless `stride` asks for the pipeline's overlapping
windows: the pipeline would drop its end silently.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TokenClassificationPipeline
from transformers.pipelines.token_classification import AggregationStrategy

from app.errors import InvalidInputError
from app.tasks.base import Feature

Aggregation = Literal["none", "simple", "first", "average", "max"]


@dataclass(frozen=True)
class EntityOptions:
    aggregation_strategy: Aggregation = "simple"
    ignore_labels: tuple[str, ...] = ("O",)
    stride: int | None = None  # tokens shared by consecutive windows of a long text; None: one window


@dataclass(frozen=True, slots=True)
class TokensFeature(Feature):
    """One window of a text's tokens, with what the pipeline's post-processing reads beside logits."""

    offsets: tuple[tuple[int, int], ...] = ()
    special_tokens_mask: tuple[int, ...] = ()


def encode_text(
    tokenizer: PreTrainedTokenizerBase, text: str, index: int, options: EntityOptions, max_length: int
) -> list[TokensFeature]:
    """The text's windows as the pipeline tokenizes it (offsets, special-token mask, overflow)."""
    if not tokenizer.is_fast:
        raise InvalidInputError("Entities need character offsets, which this checkpoint's tokenizer lacks.")
    flags = {"return_special_tokens_mask": True, "return_offsets_mapping": True}
    if options.stride is None:
        encoding = tokenizer([text], **flags)
        length = len(encoding["input_ids"][0])
        if length > max_length:
            raise InvalidInputError(
                f"Input {index} is {length} tokens long; the model reads at most {max_length}. Pass "
                "'parameters.stride' (e.g. 128) to read it in overlapping windows, as the pipeline does."
            )
    else:
        room = max_length - tokenizer.num_special_tokens_to_add()
        if options.stride >= room:
            raise InvalidInputError(
                f"'parameters.stride' is {options.stride}; it must be less than {room}, the tokens of "
                "text in one window."
            )
        encoding = tokenizer(
            [text],
            truncation=True,
            max_length=max_length,
            stride=options.stride,
            return_overflowing_tokens=True,
            **flags,
        )
    return [
        TokensFeature(
            list(ids),
            None,
            tuple((int(start), int(end)) for start, end in offsets),
            tuple(int(flag) for flag in special),
        )
        for ids, offsets, special in zip(
            encoding["input_ids"], encoding["offset_mapping"], encoding["special_tokens_mask"], strict=True
        )
    ]


def entity_pipeline(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> TokenClassificationPipeline:
    """A pipeline around the served model, used for its post-processing only; on the model's own
    device, so that building it moves nothing."""
    return TokenClassificationPipeline(model=model, tokenizer=tokenizer, device=model.device)


def entities(
    pipeline: TokenClassificationPipeline,
    text: str,
    features: Sequence[TokensFeature],
    logits: Sequence[torch.Tensor],
    options: EntityOptions,
) -> list[dict[str, Any]]:
    """One text's entities from its windows' logits, by the pipeline's `postprocess`."""
    outputs = [
        {
            "logits": window_logits.unsqueeze(0),
            "input_ids": torch.tensor([feature.input_ids]),
            "offset_mapping": torch.tensor([feature.offsets], dtype=torch.long).reshape(1, -1, 2),
            "special_tokens_mask": torch.tensor([feature.special_tokens_mask]),
            "sentence": text if window == 0 else None,
            "is_last": window == len(features) - 1,
        }
        for window, (feature, window_logits) in enumerate(zip(features, logits, strict=True))
    ]
    found = pipeline.postprocess(
        outputs,
        aggregation_strategy=AggregationStrategy[options.aggregation_strategy.upper()],
        ignore_labels=list(options.ignore_labels),
    )
    return [{key: _plain(value) for key, value in entity.items()} for entity in found]


def _plain(value: Any) -> Any:
    """numpy's scalars (the pipeline's scores) as Python's, for JSON."""
    return value.item() if isinstance(value, np.generic) else value
