"""One replica's capacity, measured: the highest concurrency (and its requests/s) at which p99 stays
within an objective, found by loading one local server with `make bench`'s client (wrk, one
sentence per `/score` request), and the autoscaling settings that follow from it for KServe
(Knative), KEDA and Azure ML (`bench.scaling_settings`).

    python -m bench.capacity --slo-p99-ms 500 [--model DIR] [--precision fp32|bf16|int8]
        [--sentences short|long] [--seconds 15] [--out bench/results/capacity]

The search doubles the concurrency (1, 2, 4, ...) until p99 passes the objective or requests fail
(a 429 at MAX_CONCURRENT_REQUESTS counts as a failure), then bisects between the last good and the
first bad level. The server's own /metrics give the measured service time per batch size, which
`bench.autoscale_sim` replays.
"""

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.load import run_wrk_load
from bench.run import DEFAULT_CHECKPOINT, SENTENCES, ensure_checkpoint, machine_description
from bench.scaling_settings import IN_FLIGHT_METRIC, render_settings
from bench.sentences import masked_sentences
from bench.server_process import free_port, start_our_server, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (1, 2, 4, 8, 16, 32, 64, 128)
COUNTERS = (
    ("bert_serving_batches_by_size_total", "count"),
    ("bert_serving_batch_seconds_by_size_total", "seconds"),
)


@dataclass(frozen=True)
class Step:
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Capacity:
    slo_p99_ms: float
    concurrency: int  # the most requests in flight at which p99 holds
    requests_per_s: float  # the rate at that concurrency
    p99_ms: float
    steps: list[Step] = field(default_factory=list)
    batch_seconds: dict[int, float] = field(default_factory=dict)  # batch size -> mean seconds
    cold_start_s: float = 0.0  # process start to ready
    machine: str = ""
    model: str = ""
    precision: str = ""


class CapacityError(Exception):
    """Even one request at a time misses the objective."""


def within(step: Step, slo_p99_ms: float) -> bool:
    return step.errors == 0 and step.p99_ms <= slo_p99_ms


def find_capacity(
    measure: Callable[[int], Step], slo_p99_ms: float, levels: tuple[int, ...] = LEVELS
) -> Capacity:
    """The highest concurrency whose p99 is within `slo_p99_ms`: doubling, then bisecting."""
    steps: list[Step] = []

    def measured(concurrency: int) -> Step:
        step = measure(concurrency)
        steps.append(step)
        return step

    good: Step | None = None
    bad: Step | None = None
    for level in levels:
        step = measured(level)
        if not within(step, slo_p99_ms):
            bad = step
            break
        good = step
    if good is None:
        assert bad is not None
        raise CapacityError(
            f"One request at a time already misses the objective: p99 {bad.p99_ms} ms > {slo_p99_ms} ms "
            f"({bad.errors} errors). Raise --slo-p99-ms, or serve faster (--precision, a GPU)."
        )
    if bad is not None:
        low, high = good.concurrency, bad.concurrency
        while high - low > 1:
            middle = (low + high) // 2
            step = measured(middle)
            if within(step, slo_p99_ms):
                low, good = middle, step
            else:
                high = middle
    steps.sort(key=lambda step: step.concurrency)
    return Capacity(slo_p99_ms, good.concurrency, good.requests_per_s, good.p99_ms, steps)


def batch_seconds(before: dict[str, float], after: dict[str, float]) -> dict[int, float]:
    """Mean seconds per batch by size, from two readings of the server's per-size counters."""
    sizes = {}
    for key, count in after.items():
        if key.startswith("count:"):
            size = key.removeprefix("count:")
            ran = count - before.get(key, 0.0)
            if ran > 0:
                spent = after.get(f"seconds:{size}", 0.0) - before.get(f"seconds:{size}", 0.0)
                sizes[int(size)] = spent / ran
    return dict(sorted(sizes.items()))


def read_batch_counters(base_url: str) -> dict[str, float]:
    """`count:<size>` and `seconds:<size>` summed over models, from /metrics."""
    counters: dict[str, float] = {}
    for line in httpx.get(f"{base_url}/metrics", timeout=10).text.splitlines():
        for name, kind in COUNTERS:
            if line.startswith(name + "{"):
                size = line.split('batch_size="', 1)[1].split('"', 1)[0]
                key = f"{kind}:{size}"
                counters[key] = counters.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return counters


def settle(base_url: str, timeout_s: float = 30) -> None:
    """Wait until the last level's requests have left the server: wrk closes its connections with
    requests in flight, which the server still counts (and admits against) until it notices."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{base_url}/metrics", timeout=10).text
        if f"\n{IN_FLIGHT_METRIC} 0.0" in metrics:
            return
        time.sleep(0.2)


def measure_replica(args: argparse.Namespace) -> Capacity:
    checkpoint = ensure_checkpoint(args.model) if args.model == DEFAULT_CHECKPOINT else args.model
    sentences = masked_sentences(**SENTENCES[args.sentences])
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    server = start_our_server(checkpoint, port, PRECISION=args.precision)
    try:
        wait_until_ready(base_url, server, timeout_s=900)
        cold_start_s = time.monotonic() - started
        run_wrk_load(base_url, sentences, 8, 3)  # warm-up

        def measure(concurrency: int) -> Step:
            settle(base_url)
            result = run_wrk_load(base_url, sentences, concurrency, args.seconds)
            step = Step(concurrency, result.sentences_per_s, result.p50_ms, result.p99_ms, result.errors)
            print(f"  c={concurrency:>3}: {step.requests_per_s:7.1f} req/s, p50 {step.p50_ms:7.1f} ms, "
                  f"p99 {step.p99_ms:7.1f} ms, errors {step.errors}", flush=True)  # fmt: skip
            return step

        before = read_batch_counters(base_url)
        capacity = find_capacity(measure, args.slo_p99_ms)
        capacity.batch_seconds = batch_seconds(before, read_batch_counters(base_url))
    finally:
        server.terminate()
        server.wait(timeout=60)
    capacity.cold_start_s = round(cold_start_s, 1)
    capacity.machine = machine_description()
    capacity.model, capacity.precision = str(checkpoint.name), args.precision
    return capacity


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slo-p99-ms", type=float, required=True, help="the latency objective, p99 in ms")
    parser.add_argument("--model", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8", "auto"])
    parser.add_argument("--sentences", choices=list(SENTENCES), default="short")
    parser.add_argument("--seconds", type=float, default=15, help="load time per concurrency level")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "capacity")
    args = parser.parse_args()
    print(f"{machine_description()}\none replica of {args.model.name}, {args.precision}, "
          f"{args.sentences} sentences; objective: p99 <= {args.slo_p99_ms} ms", flush=True)  # fmt: skip
    capacity = measure_replica(args)
    print(f"\ncapacity: {capacity.concurrency} requests in flight, {capacity.requests_per_s} req/s, "
          f"p99 {capacity.p99_ms} ms; ready {capacity.cold_start_s} s after start\n")  # fmt: skip
    print(render_settings(capacity))
    args.out.mkdir(parents=True, exist_ok=True)
    found = args.out / f"{args.precision}.json"
    found.write_text(json.dumps(asdict(capacity), indent=2) + "\n")
    print(f"written: {found}")


def as_capacity(data: dict[str, Any]) -> Capacity:
    """A Capacity read back from its JSON (bench.autoscale_sim)."""
    data = dict(data)
    steps = [Step(**step) for step in data.pop("steps")]
    sizes = {int(size): seconds for size, seconds in data.pop("batch_seconds").items()}
    return Capacity(**data, steps=steps, batch_seconds=sizes)


if __name__ == "__main__":
    main()
