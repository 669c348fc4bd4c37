"""Closed-loop load: N clients, each sending one sentence per request and waiting for the answer.

wrk drives the load where it is installed (`apt-get install wrk`): written in C, it leaves the
CPU to the servers under test. Without it, an httpx client does the same job, at a CPU cost that
the server shares on a small machine.
"""

import asyncio
import itertools
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

WRK_SCRIPT = Path(__file__).with_name("wrk_score.lua")


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    requests: int
    errors: int
    sentences_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def request_body(sentence: str) -> dict[str, dict[str, list[str]]]:
    return {"input_data": {"input_string": [sentence]}}


def load_client() -> str:
    return "wrk" if shutil.which("wrk") else "httpx"


def run_load(base_url: str, sentences: list[str], concurrency: int, seconds: float) -> LoadResult:
    if load_client() == "wrk":
        return run_wrk_load(base_url, sentences, concurrency, seconds)
    return asyncio.run(run_httpx_load(base_url, sentences, concurrency, seconds))


def run_wrk_load(
    base_url: str,
    sentences: list[str],
    concurrency: int,
    seconds: float,
    path: str = "/score",
    body: Callable[[str], Any] = request_body,
) -> LoadResult:
    """`body(sentence)`: the JSON each request posts to `path` (Azure's /score body by default)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as bodies:
        bodies.writelines(json.dumps(body(sentence)) + "\n" for sentence in sentences)
        bodies.flush()
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "120s"]
        completed = subprocess.run(
            [*command, "-s", str(WRK_SCRIPT), base_url, "--", bodies.name, path],
            capture_output=True,
            text=True,
            check=True,
        )
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    elapsed = summary["duration_us"] / 1e6
    answered = summary["requests"] - summary["errors"]
    return LoadResult(
        concurrency=concurrency,
        seconds=round(elapsed, 2),
        requests=answered,
        errors=summary["errors"],
        sentences_per_s=round(answered / elapsed, 2),
        p50_ms=round(summary["p50_us"] / 1000, 1),
        p90_ms=round(summary["p90_us"] / 1000, 1),
        p99_ms=round(summary["p99_us"] / 1000, 1),
    )


async def closed_loop_load(
    send: Callable[[], Awaitable[bool]], concurrency: int, seconds: float
) -> LoadResult:
    """`concurrency` loops, each awaiting `send()` (True: a good answer) again and again until
    `seconds` have passed: the timing every Python client of the benchmarks shares."""
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client_loop() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            if await send():
                latencies.append((time.perf_counter() - sent) * 1000)
            else:
                errors += 1

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return LoadResult(
        concurrency=concurrency,
        seconds=round(elapsed, 2),
        requests=len(latencies),
        errors=errors,
        sentences_per_s=round(len(latencies) / elapsed, 2),
        p50_ms=round(statistics.median(ordered), 1) if ordered else float("nan"),
        p90_ms=round(percentile(ordered, 0.90), 1),
        p99_ms=round(percentile(ordered, 0.99), 1),
    )


async def run_httpx_load(
    base_url: str,
    sentences: list[str],
    concurrency: int,
    seconds: float,
    path: str = "/score",
    body: Callable[[str], Any] = request_body,
    accept: Callable[[httpx.Response], bool] = lambda response: True,
) -> LoadResult:
    """As run_wrk_load, from Python; an answer is good when it is a 200 that `accept`s."""
    next_sentence = itertools.cycle(sentences)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:

        async def send() -> bool:
            try:
                response = await client.post(path, json=body(next(next_sentence)))
            except httpx.HTTPError:
                return False
            return response.status_code == 200 and accept(response)

        return await closed_loop_load(send, concurrency, seconds)


async def collect_answers(base_url: str, sentences: list[str], concurrency: int = 8) -> list[str]:
    """Each sentence's top-1 answer, sent one per request, `concurrency` at a time."""
    semaphore = asyncio.Semaphore(concurrency)

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:

        async def answer(sentence: str) -> str:
            async with semaphore:
                response = await client.post("/score", json=request_body(sentence))
                response.raise_for_status()
                return str(response.json()[0]["0"])

        return list(await asyncio.gather(*(answer(sentence) for sentence in sentences)))
