"""WORKERS=auto: how many front-end processes this machine's engine needs, from measured costs.

Measured on 2 Zen 4 cores (docs/performance.md, *Front-end processes*): a front-end spends about
600 µs of CPU on a one-sentence `/score` and one event loop tops out near 1,500 requests/s, while
bert-base on a CPU computes about 70 short sentences/s per core (int8, its fastest CPU mode). So a
CPU engine keeps one front-end's core busy only from about 20 cores, but one process's event loop
and engine share a GIL: from 4 CPUs two front-ends keep HTTP off the engine's, and one more per 16
CPUs after. Below 4 CPUs one process measured best (the hop's CPU is not paid back). A GPU computes
10,000 or more short sentences/s, so it gets a front-end per two host CPUs, up to 8.
"""

import logging
import math

from app.config import Settings

logger = logging.getLogger(__name__)

SINGLE_PROCESS_BELOW_CPUS = 4
GPU_FRONT_ENDS_MAX = 8


def front_ends_for(cpus: int, gpu: bool) -> int:
    """WORKERS=auto; 1 means the single process (no engine process, no hop)."""
    if gpu:
        return max(2, min(GPU_FRONT_ENDS_MAX, cpus // 2))
    if cpus < SINGLE_PROCESS_BELOW_CPUS:
        return 1
    return 1 + math.ceil(cpus / 16)


def front_ends_of(settings: Settings) -> int:
    """WORKERS as a count: itself, or with `auto` the count for this machine."""
    if settings.workers != "auto":
        return settings.workers
    import torch

    from app.runtime import available_cpus

    gpu = settings.device == "cuda" or (settings.device == "auto" and torch.cuda.is_available())
    front_ends = front_ends_for(available_cpus(), gpu)
    logger.info("WORKERS=auto: %d front-end processes", front_ends)
    return front_ends
