"""The preparing threads: the tokenizing and decoding of large requests, off the event loop, on
PREPARE_THREADS threads, so that a burst of them queues here rather than all holding their memory
at once; the memory each frees is given back to the system after it."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.engine.heap import then_release_free_heap

PREPARE_THREADS = 2


class Preparer:
    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        """Fresh threads (an app's second lifespan starts what its first one stopped)."""
        self._pool = ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="prepare")

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, work: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, then_release_free_heap, work, *args
        )
