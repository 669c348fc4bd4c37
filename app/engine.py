"""Runs model predictions off the event loop, one batch at a time on a dedicated thread."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from app.masks import prepare_inputs
from app.model import FillMaskModel, Predictions


class InferenceEngine:
    def __init__(self, model: FillMaskModel) -> None:
        self.model = model
        # One thread: torch already spreads a batch over every core, and a second concurrent
        # batch would only oversubscribe them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    @property
    def mask_token(self) -> str:
        return self.model.mask_token

    async def predict(self, texts: list[str], top_k: int) -> Predictions:
        prepared = prepare_inputs(texts, self.model.mask_token)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.model.predict, prepared, top_k)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
