"""A deterministic stand-in for the fill-mask task, for API and engine tests that need no torch compute."""

import threading
from collections.abc import Sequence

from app.errors import InvalidInputError
from app.tasks.base import Encoded
from app.tasks.checkpoint import ServedModel
from app.tasks.fill_mask import NO_MASK, Candidate, FillMaskOptions, MaskCandidates, MaskedFeature
from app.tasks.mask_spelling import normalize_masks

MASK_ID = -1


class FakeFillMaskTask:
    """Predicts, for each mask, `w<length of the text>`, then `w<n>-1`, ... with falling scores.

    `encode` turns a text into `[len(text), MASK_ID per mask]`, so predictions depend on the input.
    Set `gate` to hold every batch until the test releases it.
    """

    name = "fill-mask"
    mask_token = "[MASK]"
    source = "fake-model"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.batches: list[int] = []
        self.gate: threading.Event | None = None
        self.holding = threading.Event()  # set while a batch waits at the gate
        self.fail_on_length: int | None = None

    def encode(
        self, texts: Sequence[str], options: FillMaskOptions
    ) -> list[Encoded[MaskedFeature] | InvalidInputError]:
        normalized = [normalize_masks(text, self.mask_token) for text in texts]
        self.calls.append(normalized)
        return [
            Encoded(
                [MaskedFeature([len(text)] + [MASK_ID] * text.count(self.mask_token), top_k=options.top_k)]
            )
            if self.mask_token in text
            else InvalidInputError(f"Input {index} {NO_MASK}")
            for index, text in enumerate(normalized)
        ]

    def forward(self, features: Sequence[MaskedFeature]) -> list[MaskCandidates]:
        if self.gate is not None and not self.gate.is_set():
            self.holding.set()
            self.gate.wait(10)
            self.holding.clear()
        self.batches.append(len(features))
        if any(feature.input_ids[0] == self.fail_on_length for feature in features):
            raise RuntimeError(f"cannot run an input of length {self.fail_on_length}")
        top_k = max(feature.top_k for feature in features)
        return [
            [
                [
                    Candidate(f"w{ids[0]}-{rank}" if rank else f"w{ids[0]}", rank, 1 / (rank + 2))
                    for rank in range(top_k)
                ]
                for _ in ids[1:]
            ]
            for ids in (feature.input_ids for feature in features)
        ]

    def decode(
        self, encoded: Encoded[MaskedFeature], outputs: list[MaskCandidates], options: FillMaskOptions
    ) -> MaskCandidates:
        (masks,) = outputs
        return [candidates[: options.top_k] for candidates in masks]


def served(fake: FakeFillMaskTask) -> ServedModel:
    return ServedModel(source=fake.source, tasks={"fill-mask": fake})  # type: ignore[dict-item]
