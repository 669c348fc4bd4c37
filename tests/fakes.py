"""A deterministic stand-in for FillMaskModel, for API and engine tests that need no torch compute."""

import threading

from app.tasks.fill_mask import Candidate, Predictions

MASK_ID = -1


class FakeFillMaskModel:
    """Predicts, for each mask, `w<length of the text>`, then `w<n>-1`, ... with falling scores.

    `encode` turns a text into `[len(text), MASK_ID per mask]`, so predictions depend on the input.
    Set `gate` to hold every batch until the test releases it.
    """

    mask_token = "[MASK]"
    source = "fake-model"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.batches: list[int] = []
        self.gate: threading.Event | None = None
        self.holding = threading.Event()  # set while a batch waits at the gate
        self.fail_on_length: int | None = None

    def encode(self, texts: list[str]) -> list[list[int]]:
        self.calls.append(texts)
        return [[len(text)] + [MASK_ID] * text.count(self.mask_token) for text in texts]

    def predict_encoded(self, encodings: list[list[int]], top_k: int) -> Predictions:
        if self.gate is not None and not self.gate.is_set():
            self.holding.set()
            self.gate.wait(10)
            self.holding.clear()
        self.batches.append(len(encodings))
        if any(ids[0] == self.fail_on_length for ids in encodings):
            raise RuntimeError(f"cannot run an input of length {self.fail_on_length}")
        return [
            [
                [
                    Candidate(f"w{ids[0]}-{rank}" if rank else f"w{ids[0]}", rank, 1 / (rank + 2))
                    for rank in range(top_k)
                ]
                for _ in ids[1:]
            ]
            for ids in encodings
        ]

    def predict(self, texts: list[str], top_k: int = 1) -> Predictions:
        return self.predict_encoded(self.encode(texts), top_k)
