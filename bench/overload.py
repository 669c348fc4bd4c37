"""Overload: every request must get 200 or 429, and refusing must cost the answered ones little.

    python -m bench.overload [--checkpoint DIR] [--capacity 32] [--seconds 60]
    python -m bench.overload --flood [--seconds 180]

Polite (default): our server with MAX_CONCURRENT_REQUESTS=capacity and 2 x capacity closed-loop
clients, each sending one sentence per request and honouring Retry-After on a 429.

Flood: our server with default settings; first 32 well-behaved wrk connections (the reference
throughput), then 128 (4x) that resend at once whatever the answer (wrk ignores Retry-After).
Goodput is the answered sentences per second under the flood, as a share of the reference.
Statuses come from the server's own /metrics.

Both report status counts, latency of the answered requests and the server's RSS; they exit
non-zero if anything but 200 and 429 came back or RSS grew by over 20%.
"""

import argparse
import asyncio
import collections
import itertools
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.load import request_body, run_wrk_load
from bench.run import DEFAULT_CHECKPOINT, ensure_checkpoint
from bench.sentences import masked_sentences
from bench.server_process import free_port, start_our_server, wait_until_ready

RSS_GROWTH_LIMIT = 1.2


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def overload(base_url: str, pid: int, clients: int, seconds: float) -> dict[str, object]:
    sentences = itertools.cycle(masked_sentences(1000))
    statuses: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    rss: list[tuple[float, float]] = []
    started = time.monotonic()
    deadline = started + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                response = await client.post("/score", json=request_body(next(sentences)))
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                continue
            statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                latencies.append((time.monotonic() - sent) * 1000)
            elif response.status_code == 429:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))

    async def sample_rss() -> None:
        while time.monotonic() < deadline:
            rss.append((round(time.monotonic() - started, 1), round(rss_mb(pid), 1)))
            await asyncio.sleep(5)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        await asyncio.gather(sample_rss(), *(client_loop(client) for _ in range(clients)))
    rss.append((round(time.monotonic() - started, 1), round(rss_mb(pid), 1)))
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "seconds": seconds,
        "statuses": dict(statuses),
        "answered_per_s": round(len(latencies) / seconds, 2),
        "p50_ms": round(statistics.median(ordered), 1) if ordered else None,
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 1) if ordered else None,
        "rss_mb": rss,
    }


FLOOD_REFERENCE_CONNECTIONS = 32
FLOOD_CONNECTIONS = 128
RSS_SAMPLE_S = 10


def answered_by_status(base_url: str) -> collections.Counter[str]:
    """/score answers by status, and the 429s admission control gave before routing."""
    counts: collections.Counter[str] = collections.Counter()
    for family in text_string_to_metric_families(httpx.get(f"{base_url}/metrics").text):
        for sample in family.samples:
            if sample.name == "bert_serving_requests_total" and sample.labels.get("route") == "/score":
                counts[sample.labels["status"]] += int(sample.value)
            elif sample.name == "bert_serving_requests_refused_total":
                counts["429"] += int(sample.value)
    return counts


def flood(base_url: str, pid: int, seconds: float) -> dict[str, object]:
    sentences = masked_sentences(1000)
    reference = run_wrk_load(base_url, sentences, FLOOD_REFERENCE_CONNECTIONS, seconds)
    before = answered_by_status(base_url)
    rss: list[tuple[float, float]] = []
    done = threading.Event()
    sampler = threading.Thread(target=sample_rss_until, args=(pid, rss, done), daemon=True)
    sampler.start()
    try:
        flooded = run_wrk_load(base_url, sentences, FLOOD_CONNECTIONS, seconds)
    finally:
        done.set()
        sampler.join()
    statuses = answered_by_status(base_url) - before
    return {
        "reference": reference.as_dict(),
        "flood": flooded.as_dict(),
        "statuses": dict(statuses),
        "goodput_share": round(flooded.sentences_per_s / reference.sentences_per_s, 3),
        "rss_mb": rss,
    }


def sample_rss_until(pid: int, samples: list[tuple[float, float]], done: threading.Event) -> None:
    """RSS every RSS_SAMPLE_S (and once more at the end), as (seconds since start, MB)."""
    started = time.monotonic()
    while True:
        samples.append((round(time.monotonic() - started, 1), round(rss_mb(pid), 1)))
        if done.wait(RSS_SAMPLE_S):
            samples.append((round(time.monotonic() - started, 1), round(rss_mb(pid), 1)))
            return


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--capacity", type=int, default=32, help="MAX_CONCURRENT_REQUESTS of the server")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--flood", action="store_true", help="4x clients that ignore Retry-After (wrk)")
    args = parser.parse_args()

    checkpoint = ensure_checkpoint(args.checkpoint)
    port = free_port()
    settings = {} if args.flood else {"MAX_CONCURRENT_REQUESTS": str(args.capacity)}
    server = start_our_server(checkpoint, port, **settings)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(base_url, server, timeout_s=600)
        if args.flood:
            report = flood(base_url, server.pid, args.seconds)
        else:
            report = asyncio.run(overload(base_url, server.pid, 2 * args.capacity, args.seconds))
    finally:
        server.terminate()
        report_exit = server.wait(timeout=120)
    report["server_exit_status"] = report_exit
    print(json.dumps(report, indent=2))
    statuses: Any = report["statuses"]
    # wrk drops the requests still in flight when a phase ends: those are 499s, not failures.
    expected = ("200", "429", "499") if args.flood else ("200", "429")
    unexpected = {status: n for status, n in statuses.items() if status not in expected}
    rss: Any = report["rss_mb"]
    after_warm_up, end = rss[0 if args.flood else min(2, len(rss) - 1)][1], rss[-1][1]
    if unexpected or report_exit != 0 or end > RSS_GROWTH_LIMIT * after_warm_up:
        raise SystemExit(
            f"FAILED: unexpected {unexpected}, exit {report_exit}, RSS {after_warm_up} -> {end} MB"
        )
    print(f"OK: only {', '.join(expected)}, exit 0, RSS {after_warm_up} -> {end} MB")


if __name__ == "__main__":
    main()
