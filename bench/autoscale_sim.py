"""Replicas under a day's worst hour, simulated: a discrete-event model of N replicas of the server,
each batching as the engine does (continuous batching: when a batch ends, the next takes what
queued, up to MAX_BATCH_SIZE, and runs for the service time measured for that batch size), behind
a router that sends each request to the replica with the fewest in flight, and refuses it (429)
when every ready replica holds its hard limit. New replicas serve after the measured cold start.

Traffic: Poisson arrivals at 1x (half of one replica's measured rate), ramping to 10x and back over
an hour, with a spike. Three autoscalers replay it:
- concurrency: Knative's KPA, every 2 s, replicas = in flight (60 s average; a 6 s panic window at
  twice that) / (70% of the measured concurrency); once with the concurrency measured for the
  objective, once with the one measured for half of it (headroom for rises);
- CPU 70%: Kubernetes' HPA, every 15 s, replicas = ceil(current x busy share (60 s) / 0.7), within
  10% tolerance, scaling down only to the highest of the last 5 minutes.

    python -m bench.autoscale_sim [--capacity bench/results/capacity/fp32.json] [--out docs/autoscaling.png]
"""

import argparse
import heapq
import itertools
import json
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.autoscale_chart import draw
from bench.capacity import as_capacity
from bench.scaling_settings import MAX_REPLICAS, hard_limit, scale_target

ROOT = Path(__file__).resolve().parents[1]
MAX_BATCH_SIZE = 32
TARGET_UTILIZATION = 0.7


def service_time(measured: dict[int, float]) -> Callable[[int], float]:
    """Seconds for a batch of `size`: the measured mean where that size ran, else a least-squares
    line (a fixed cost per batch plus a cost per input) through the measured sizes."""
    sizes = sorted(measured)
    if len(sizes) == 1:
        only = measured[sizes[0]] / sizes[0]
        return lambda size: measured.get(size, only * size)
    mean_x = sum(sizes) / len(sizes)
    mean_y = sum(measured[size] for size in sizes) / len(sizes)
    slope = sum((s - mean_x) * (measured[s] - mean_y) for s in sizes) / sum((s - mean_x) ** 2 for s in sizes)
    slope = max(slope, 0.0)
    fixed = max(mean_y - slope * mean_x, 0.0)
    return lambda size: measured.get(size, fixed + slope * size)


def traffic(minute: float) -> float:
    """The rate's multiple of 1x at `minute`: 1x, a ramp to 10x, 10x, back down, a spike, 1x."""
    if minute < 10:
        level = 1.0
    elif minute < 25:
        level = 1 + 9 * (minute - 10) / 15
    elif minute < 35:
        level = 10.0
    elif minute < 50:
        level = 10 - 9 * (minute - 35) / 15
    else:
        level = 1.0
    return level + (6.0 if 44 <= minute < 46 else 0.0)  # the spike


@dataclass
class Replica:
    ready_at: float
    started_at: float
    queue: deque[float] = field(default_factory=deque)  # arrival times
    running: list[float] = field(default_factory=list)
    busy_until: float = 0.0
    batches: deque[tuple[float, float]] = field(default_factory=deque)  # (start, end), the last 2 minutes
    stopped_at: float | None = None

    @property
    def in_flight(self) -> int:
        return len(self.queue) + len(self.running)


@dataclass
class Outcome:
    policy: str
    latencies: list[tuple[float, float]]  # (arrival, seconds)
    rejected: int
    replica_minutes: float
    replicas: list[tuple[float, int]]  # (second, replicas started, ready or not)

    def p99_ms(self) -> float:
        ordered = sorted(seconds for _, seconds in self.latencies)
        return round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1) if ordered else 0.0


class Simulation:
    def __init__(self, service: Callable[[int], float], hard_limit: int, cold_start_s: float, seed: int = 0):
        self.service, self.hard_limit, self.cold_start_s = service, hard_limit, cold_start_s
        self.random = random.Random(seed)
        self.events: list[tuple[float, int, str, object]] = []
        self.order = itertools.count()
        self.replicas: list[Replica] = []
        self.latencies: list[tuple[float, float]] = []
        self.rejected = 0
        self.in_flight_samples: deque[tuple[float, int]] = deque()

    def at(self, time: float, kind: str, payload: object = None) -> None:
        heapq.heappush(self.events, (time, next(self.order), kind, payload))

    def live(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica.stopped_at is None]

    def scale_to(self, now: float, count: int) -> None:
        live = self.live()
        for _ in range(count - len(live)):
            replica = Replica(ready_at=now + self.cold_start_s, started_at=now)
            self.replicas.append(replica)
            self.at(replica.ready_at, "ready", replica)
        for replica in sorted(live, key=lambda r: (r.ready_at <= now, -r.in_flight))[
            : max(0, len(live) - count)
        ]:
            replica.stopped_at = now  # drained: what it holds finishes, it takes nothing new

    def arrive(self, now: float) -> None:
        ready = [r for r in self.live() if r.ready_at <= now and r.in_flight < self.hard_limit]
        if not ready:
            self.rejected += 1
            return
        replica = min(ready, key=lambda r: r.in_flight)
        replica.queue.append(now)
        self.start_batch(now, replica)

    def start_batch(self, now: float, replica: Replica) -> None:
        if replica.running or not replica.queue:
            return
        size = min(len(replica.queue), MAX_BATCH_SIZE)
        replica.running = [replica.queue.popleft() for _ in range(size)]
        replica.busy_until = now + self.service(size)
        replica.batches.append((now, replica.busy_until))
        while replica.batches[0][1] < now - 120:
            replica.batches.popleft()
        self.at(replica.busy_until, "done", replica)

    def finish_batch(self, now: float, replica: Replica) -> None:
        self.latencies += [(arrival, now - arrival) for arrival in replica.running]
        replica.running = []
        self.start_batch(now, replica)

    def busy_share(self, replica: Replica, now: float, window: float) -> float:
        since = max(now - window, replica.ready_at)
        if now <= since:
            return 0.0
        busy = sum(max(0.0, min(end, now) - max(start, since)) for start, end in replica.batches)
        return busy / (now - since)

    def run(self, policy: str, base_rate: float, target: int, minutes: float = 60) -> Outcome:
        end = minutes * 60
        self.scale_to(0.0, 1)
        self.replicas[0].ready_at = 0.0  # warm at the start
        self.at(self.random.expovariate(base_rate), "arrival")
        self.at(0.0, "scale")
        history: deque[tuple[float, int]] = deque()  # the HPA's recommendations, 5 minutes of them
        counts: list[tuple[float, int]] = []
        while self.events:
            now, _, kind, payload = heapq.heappop(self.events)
            if kind == "arrival" and now < end:
                self.arrive(now)
                rate = base_rate * traffic(now / 60)
                self.at(now + self.random.expovariate(rate), "arrival")
            elif kind == "done":
                self.finish_batch(now, payload)  # type: ignore[arg-type]
            elif kind == "ready":
                self.start_batch(now, payload)  # type: ignore[arg-type]
            elif kind == "scale" and now < end:
                live = self.live()
                in_flight = sum(replica.in_flight for replica in live)
                self.in_flight_samples.append((now, in_flight))
                while self.in_flight_samples[0][0] < now - 60:
                    self.in_flight_samples.popleft()
                if policy == "concurrency":
                    wanted = self.kpa(now, len(live), target)
                    step = 2.0
                else:
                    wanted, step = self.hpa(now, live, history), 15.0
                self.scale_to(now, max(1, min(wanted, MAX_REPLICAS)))
                counts.append((now, len(self.live())))
                self.at(now + step, "scale")
        replica_minutes = sum(((r.stopped_at or end) - r.started_at) / 60 for r in self.replicas)
        return Outcome(policy, self.latencies, self.rejected, round(replica_minutes, 1), counts)

    def kpa(self, now: float, current: int, target: int) -> int:
        per_replica = TARGET_UTILIZATION * target
        stable = sum(count for _, count in self.in_flight_samples) / len(self.in_flight_samples)
        recent = [count for time, count in self.in_flight_samples if time >= now - 6]
        panic = sum(recent) / len(recent)
        stable_wanted, panic_wanted = math.ceil(stable / per_replica), math.ceil(panic / per_replica)
        if panic_wanted >= 2 * current:
            return max(panic_wanted, current)  # panic: scale up at once, never down
        return stable_wanted

    def hpa(self, now: float, live: list[Replica], history: deque[tuple[float, int]]) -> int:
        ready = [replica for replica in live if replica.ready_at <= now]
        if not ready:
            return len(live)
        utilization = sum(self.busy_share(replica, now, 60) for replica in ready) / len(ready)
        wanted = len(live)
        if abs(utilization / TARGET_UTILIZATION - 1) > 0.1:
            wanted = math.ceil(len(ready) * utilization / TARGET_UTILIZATION)
        history.append((now, wanted))
        while history[0][0] < now - 300:
            history.popleft()
        return max(wanted, max(count for _, count in history)) if wanted < len(live) else wanted


def closed_loop_p99(service: Callable[[int], float], concurrency: int, batches: int = 200) -> float:
    """p99 seconds of `concurrency` clients that each resend on their answer, on one replica: the
    fake engine with known service times that bench.capacity's search is tested against."""
    simulation = Simulation(service, hard_limit=10**6, cold_start_s=0.0)
    replica = Replica(ready_at=0.0, started_at=0.0)
    simulation.replicas.append(replica)
    for _ in range(concurrency):
        replica.queue.append(0.0)
    simulation.start_batch(0.0, replica)
    while simulation.events and len(simulation.latencies) < batches * concurrency:
        now, _, _, _ = heapq.heappop(simulation.events)
        answered = len(replica.running)
        simulation.finish_batch(now, replica)
        for _ in range(answered):  # every answered client sends again at once
            replica.queue.append(now)
        simulation.start_batch(now, replica)
    ordered = sorted(seconds for _, seconds in simulation.latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def simulate(measured: dict[str, Any], seed: int = 0) -> list[Outcome]:
    """The policies on the same traffic (same seed), from a bench.capacity result: concurrency at
    the measured target, concurrency at the target measured for half the objective (headroom for
    rises), and CPU at 70%."""
    capacity = as_capacity(measured)
    service = service_time(capacity.batch_seconds)
    hard, base_rate = hard_limit(capacity), 0.5 * capacity.requests_per_s
    outcomes = []
    for policy, target in (
        ("concurrency", capacity.concurrency),
        ("concurrency", scale_target(capacity)),
        ("cpu", 0),
    ):
        outcome = Simulation(service, hard, capacity.cold_start_s, seed).run(policy, base_rate, target)
        outcome.policy = f"concurrency {target}" if policy == "concurrency" else "cpu 70%"
        outcomes.append(outcome)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--capacity", type=Path, default=ROOT / "bench" / "results" / "capacity" / "fp32.json"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "autoscaling.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    measured = json.loads(args.capacity.read_text())
    outcomes = simulate(measured, args.seed)
    concurrency, rate, slo = measured["concurrency"], measured["requests_per_s"], measured["slo_p99_ms"]
    print(f"one replica: {concurrency} in flight, {rate} req/s within p99 {slo} ms; "
          f"cold start {measured['cold_start_s']} s; 1x = half its rate")  # fmt: skip
    print(f"{'policy':<16} {'requests':>9} {'p99 ms':>8} {'refused':>8} {'replica-min':>12}")
    for outcome in outcomes:
        print(f"{outcome.policy:<16} {len(outcome.latencies):>9} {outcome.p99_ms():>8} {outcome.rejected:>8} "
              f"{outcome.replica_minutes:>12}")  # fmt: skip
    base_rate = 0.5 * float(measured["requests_per_s"])
    draw(outcomes, lambda minute: base_rate * traffic(minute), args.out)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
