"""Batches without padding: the inputs of a padded batch run concatenated in rows, each attending
only to itself, so a batch costs its real tokens rather than its count times its longest.

BERT's Linear layers, nearly all of its FLOPs, work token by token; only attention needs to know
where an input starts and ends. So a row holds several inputs back to back: position ids restart
at each, each keeps its own token types, and a block-diagonal mask keeps attention within an input
(transformers' BertModel takes both; `SegmentEncoder`). `PackedEncoder` stands where the model's
encoder was and takes the same padded batch the tasks build (`pad_features`: rows padded on the
right): it packs, runs the rows, and gives back the hidden states in the padded layout, with the
pooler on each input's first token, so every task's head reads its outputs as before.

Rows hold about ROW_TOKENS tokens, or as many as the batch's longest input: attention over a row
grows with the square of its length. On two Zen 4 cores, fp32 bert-base compiled, batches of 32
mixed short sentences ran 1.2-1.25x the sorted padded batches' rate with rows of 64 to 512 tokens,
and sentences of 6-40 words best with rows of 128 (1.23x; 1.09x with 512): `python -m bench.packing`,
docs/performance.md.
"""

from dataclasses import dataclass
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

ROW_TOKENS = 128
# int8's Linear layers cost little enough that attention over rows of 128 shows (eager int8:
# rows of 64 ran 1.10x rows of 128 on both loads).
INT8_ROW_TOKENS = 64


def place(lengths: list[int], row_tokens: int = ROW_TOKENS) -> tuple[list[int], list[int], int]:
    """Each input's row and offset in it, and the rows' width: the fullest row's tokens.

    As few rows as `row_tokens` allows, filled evenly: every row is as wide as the fullest, so
    rows filled one after the other would pad the last one (32 inputs of 19 tokens in rows of 512:
    two rows of 512 slots for 611 tokens). Longest first, each input goes to the emptiest row; no
    row is wider than `row_tokens` or the longest input, whichever is more (the compiled package's
    bound). `row_tokens` 0: a row per input, as a padded batch has."""
    if row_tokens <= 0:
        return list(range(len(lengths))), [0] * len(lengths), max(lengths, default=0)
    widest = max(row_tokens, max(lengths, default=0))
    longest_first = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    count = min(len(lengths), -(-sum(lengths) // row_tokens))
    while True:
        filled = [0] * count
        rows, offsets = [0] * len(lengths), [0] * len(lengths)
        for index in longest_first:
            row = filled.index(min(filled))
            rows[index], offsets[index] = row, filled[row]
            filled[row] += lengths[index]
        if max(filled, default=0) <= widest or count >= len(lengths):
            return rows, offsets, max(filled, default=0)
        count += 1  # a row came out wider than allowed


@dataclass(frozen=True)
class PackedRows:
    """A padded batch's real tokens laid out in rows, and where each came from."""

    input_ids: torch.Tensor  # (rows, width)
    token_type_ids: torch.Tensor
    position_ids: torch.Tensor
    segments: torch.Tensor  # 1 + the input's index in the batch; 0 where a row is padded
    keep: torch.Tensor  # (inputs, longest): the padded batch's real tokens
    destinations: torch.Tensor  # (real tokens,): each one's place in the rows, flattened

    def unpack(self, hidden: torch.Tensor) -> torch.Tensor:
        """(rows, width, hidden) -> the padded batch's (inputs, longest, hidden), zeros at padding."""
        real = hidden.reshape(-1, hidden.shape[-1])[self.destinations]
        padded = hidden.new_zeros((*self.keep.shape, hidden.shape[-1]))
        padded[self.keep] = real
        return padded


def pack(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor | None,
    row_tokens: int = ROW_TOKENS,
) -> PackedRows:
    """Rows of the padded batch's inputs (padded on the right: each row's real tokens come first).
    Where a row ends short of the widest, it is filled with token 0 in segment 0: attended by
    nothing real, and dropped by `unpack`."""
    keep = attention_mask.bool()
    lengths = keep.sum(dim=1)
    rows, offsets, width = place(lengths.tolist(), row_tokens)
    device = input_ids.device
    starts = torch.tensor(rows, device=device) * width + torch.tensor(offsets, device=device)
    total = int(lengths.sum())
    firsts = (lengths.cumsum(0) - lengths).repeat_interleave(lengths)
    within = torch.arange(total, device=device) - firsts
    destinations = starts.repeat_interleave(lengths) + within
    slots = (max(rows, default=0) + 1) * width

    def laid_out(values: torch.Tensor) -> torch.Tensor:
        flat = torch.zeros(slots, dtype=torch.long, device=device)
        flat[destinations] = values
        return flat.view(-1, width)

    segment_of = torch.arange(1, len(rows) + 1, device=device).repeat_interleave(lengths)
    types = token_type_ids[keep] if token_type_ids is not None else torch.zeros_like(within)
    return PackedRows(
        input_ids=laid_out(input_ids[keep]),
        token_type_ids=laid_out(types),
        position_ids=laid_out(within),
        segments=laid_out(segment_of),
        keep=keep,
        destinations=destinations,
    )


class SegmentEncoder(torch.nn.Module):
    """The encoder over packed rows: its last hidden state, each token attending only to the tokens
    of its own segment. What the compiled package exports."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor,
        position_ids: torch.Tensor,
        segments: torch.Tensor,
    ) -> torch.Tensor:
        embeddings: Any = self.encoder.get_input_embeddings()  # type: ignore[operator]
        dtype = embeddings.weight.dtype
        same = segments[:, None, :, None] == segments[:, None, None, :]
        # Additive, as both eager and SDPA attention read a float mask.
        mask = torch.zeros(same.shape, dtype=dtype, device=same.device).masked_fill(
            ~same, torch.finfo(dtype).min
        )
        hidden: torch.Tensor = self.encoder(
            input_ids=input_ids,
            attention_mask=mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
        )[0]
        return hidden


class PackedEncoder(torch.nn.Module):
    """Stands where the model's encoder was, taking the same padded batch: runs it packed
    (`rows`: a `SegmentEncoder`, or the compiled package of one) and answers in the padded layout,
    `pooler_output` from `pooler` (BERT's, on each input's first token) where the encoder has one."""

    def __init__(
        self,
        rows: torch.nn.Module,
        config: Any,
        pooler: torch.nn.Module | None,
        row_tokens: int = ROW_TOKENS,
    ) -> None:
        super().__init__()
        self.rows = rows
        self.config = config
        self.pooler = pooler
        # 0: one input per row, as wide as the longest: the padded batch's cost (benchmarks compare).
        self.row_tokens = row_tokens

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **unused: Any,  # the heads' forward passes return_dict, output_attentions, ... as None or defaults
    ) -> BaseModelOutputWithPooling:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        packed = pack(input_ids, attention_mask, token_type_ids, self.row_tokens)
        hidden_rows = self.rows(
            input_ids=packed.input_ids,
            token_type_ids=packed.token_type_ids,
            position_ids=packed.position_ids,
            segments=packed.segments,
        )
        hidden = packed.unpack(hidden_rows)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)


def packed(encoder: torch.nn.Module, row_tokens: int = ROW_TOKENS) -> PackedEncoder:
    """An eager encoder (BertModel, ...) run packed."""
    return PackedEncoder(
        SegmentEncoder(encoder), encoder.config, getattr(encoder, "pooler", None), row_tokens
    )


def run_packed(model: torch.nn.Module, precision: str) -> None:
    """Put `packed` in place of the model's eager encoder (under its `base_model_prefix`), its rows
    as long as suits `precision`. Call before binding tasks: they keep the encoder they find."""
    prefix = str(model.base_model_prefix)
    row_tokens = INT8_ROW_TOKENS if precision == "int8" else ROW_TOKENS
    setattr(model, prefix, packed(getattr(model, prefix), row_tokens))
