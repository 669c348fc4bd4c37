"""Model instances (INSTANCES): K batches at once over one copy of the weights, each on its own
share of torch's threads.

On a CPU a batch of a few short inputs does not keep every core busy through each operation
(intra-op scaling is sublinear), so two batches on one thread each can do more than one batch on
two (measured on 2 Zen 4 cores, bert-base, 16 short inputs a batch: eager fp32 1.1x, bf16 1.1x,
int8 1.15x). A lone request then runs on fewer threads: no slower for one short sentence
(measured), slower for a long input. `auto` times the candidates on a probe batch at start, as PRECISION and
COMPILE do, and keeps more instances only if they win by INSTANCES_MARGIN.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from app.runtime import probe_batch

logger = logging.getLogger(__name__)

# More instances must beat fewer by this much on the probe for `auto` to keep them.
INSTANCES_MARGIN = 1.05
# The probe's batch: about one short-sentence batch of a busy server, packed.
PROBE_ROWS, PROBE_TOKENS = 2, 128
PROBE_ROUNDS = 3


@dataclass(frozen=True)
class EngineInstances:
    count: int
    threads: int  # torch's intra-op threads for each

    @classmethod
    def split(cls, count: int, total_threads: int) -> "EngineInstances":
        """`count` instances sharing `total_threads` (each gets at least one)."""
        return cls(count, max(1, total_threads // count))

    def describe(self) -> dict[str, int]:
        return {"instances": self.count, "threads_per_instance": self.threads}


def candidates(total_threads: int) -> list[EngineInstances]:
    """Each way to split the threads into equal shares: 1 instance of them all, ..., one each."""
    counts = [count for count in range(1, total_threads + 1) if total_threads % count == 0]
    return [EngineInstances.split(count, total_threads) for count in counts]


def choose_instances(rate_of: Callable[[EngineInstances], float], total_threads: int) -> EngineInstances:
    """The candidate with the best `rate_of` (inputs per second), more instances only where they
    beat the best so far by INSTANCES_MARGIN."""
    best = EngineInstances.split(1, total_threads)
    best_rate = rate_of(best)
    for candidate in candidates(total_threads)[1:]:
        rate = rate_of(candidate)
        logger.info(
            "INSTANCES=auto: %d x %d threads ran %.2fx the rate of %d x %d",
            candidate.count, candidate.threads, rate / best_rate, best.count, best.threads,
        )  # fmt: skip
        if rate >= best_rate * INSTANCES_MARGIN:
            best, best_rate = candidate, rate
    return best


def probe_rate(
    encoder: torch.nn.Module, inputs: dict[str, torch.Tensor], instances: EngineInstances
) -> float:
    """Batches per second of `encoder` on `inputs`, run by `instances` at once, each on its threads."""
    start = threading.Barrier(instances.count + 1)
    finished: list[float] = []
    failures: list[BaseException] = []

    def instance() -> None:
        try:
            torch.set_num_threads(instances.threads)
            with torch.inference_mode():  # per thread, as the tasks' forward
                encoder(**inputs)  # one-time costs (per-thread kernel caches) outside the timing
                start.wait()
                for _ in range(PROBE_ROUNDS):
                    encoder(**inputs)
            finished.append(time.perf_counter())
        except BaseException as exc:
            failures.append(exc)
            start.abort()  # the probe stops rather than wait for this thread forever

    threads = [threading.Thread(target=instance, name="instances-probe") for _ in range(instances.count)]
    for thread in threads:
        thread.start()
    try:
        start.wait()
        began = time.perf_counter()
    except threading.BrokenBarrierError:
        pass
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return instances.count * PROBE_ROUNDS / (max(finished) - began)


def measure_instances(network: torch.nn.Module, total_threads: int) -> EngineInstances:
    """INSTANCES=auto for a loaded model: its encoder timed on a probe batch with each candidate."""
    encoder: torch.nn.Module = getattr(network, getattr(network, "base_model_prefix", ""), network)
    inputs = probe_batch(network, PROBE_ROWS, PROBE_TOKENS)
    return choose_instances(lambda candidate: probe_rate(encoder, inputs, candidate), total_threads)
