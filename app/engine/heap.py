"""Giving memory freed by large requests back to the system, and keeping the garbage collector
off the objects that live as long as the server.

glibc keeps what a process frees in its arenas for later use, and every thread that allocates gets
an arena of its own: after a burst of large requests (tokenizing 100,000-character texts makes
hundreds of megabytes of short-lived objects on the preparing threads) the server's RSS stayed
where the burst left it. `malloc_trim` hands the free pages back.
"""

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from typing import Any


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)  # glibc only
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return]


_malloc_trim = _find_malloc_trim()


def release_free_heap() -> None:
    """Return the allocator's free pages to the system, where the C library can (glibc)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def then_release_free_heap(work: Callable[..., Any], *args: Any) -> Any:
    """`work(*args)`, then `release_free_heap()`: for the large work that leaves free pages behind."""
    try:
        return work(*args)
    finally:
        release_free_heap()


def freeze_long_lived() -> None:
    """Collect, then take every object still alive out of the cyclic garbage collector's sight.

    A loaded model brings ~450,000 objects (torch, transformers, the tokenizer, their modules),
    and each full collection, a few per thousand requests, walked them all while the event loop
    waited: 100 µs of GC per `/score` with a tiny model, and pauses that set its p99. What is
    allocated later (requests) is collected as before. Called when a model has loaded or been
    let go (frozen objects are never collected, so the collection comes first), which then
    gives the freed heap back: a full collection, for those moments, never per request.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    release_free_heap()  # what the collection freed, and a model let go
