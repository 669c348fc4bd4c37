"""A deterministic stand-in for FillMaskModel, for API tests that need no torch compute."""

from app.model import Candidate, Predictions


class FakeFillMaskModel:
    """Predicts, for each mask, `w<length of the text>`, then `w<n>-2`, ... with falling scores."""

    mask_token = "[MASK]"
    source = "fake-model"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts: list[str], top_k: int = 1) -> Predictions:
        self.calls.append(texts)
        return [
            [
                [
                    Candidate(f"w{len(text)}-{rank}" if rank else f"w{len(text)}", rank, 1 / (rank + 2))
                    for rank in range(top_k)
                ]
                for _ in range(text.count(self.mask_token))
            ]
            for text in texts
        ]
