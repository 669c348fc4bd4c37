"""The simulated hour drawn: offered load, replicas and p99 per minute under each policy
(`bench.autoscale_sim`, docs/autoscaling.png)."""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.autoscale_sim import Outcome


def draw(outcomes: "list[Outcome]", load_at: "Callable[[float], float]", path: Path) -> None:
    """`load_at(minute)`: the requests/s offered then."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (load, replicas, latency) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    minutes = [minute / 4 for minute in range(240)]
    load.plot(minutes, [load_at(m) for m in minutes], color="black")
    load.set_ylabel("requests/s offered")
    for outcome in outcomes:
        label = f"{outcome.policy}: p99 {outcome.p99_ms():g} ms, {outcome.rejected} refused"
        label += f", {outcome.replica_minutes:g} replica-min"
        replicas.step(
            [t / 60 for t, _ in outcome.replicas], [n for _, n in outcome.replicas], where="post", label=label
        )
        per_minute: dict[int, list[float]] = {}
        for arrival, seconds in outcome.latencies:
            per_minute.setdefault(int(arrival // 60), []).append(seconds)
        xs = sorted(per_minute)
        p99 = [1000 * sorted(per_minute[x])[int(0.99 * (len(per_minute[x]) - 1))] for x in xs]
        latency.plot([x + 0.5 for x in xs], p99, label=outcome.policy)
    replicas.set_ylabel("replicas")
    replicas.legend(fontsize=8)
    latency.set_ylabel("p99 per minute (ms)")
    latency.set_yscale("log")
    latency.set_xlabel("minute")
    latency.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
