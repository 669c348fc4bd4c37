"""What a legitimate client sees while the server is under attack (bench/attacks.py): one short
sentence POSTed to /score from LEGIT_CONNECTIONS connections, as a polite client does (a 10 s timeout,
a pause after a refusal, Retry-After honoured up to 2 s), a prober GETting /health/live every 0.25 s,
and the server's RSS sampled as often.
"""

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from bench.hostile_clients import SENTENCE_BODY, Target

LEGIT_CONNECTIONS = 2
LEGIT_TIMEOUT_S = 10
LONGEST_RETRY_AFTER_S = 2
REFUSED_PAUSE_S = 0.25  # after an error without Retry-After
PROBE_EVERY_S = 0.25
RSS_EVERY_S = 0.25
SHORTEST_WATCH_S = 3  # a one-shot attack is watched this long at least
T = TypeVar("T")


def rss_mb(pid: int) -> float:
    """The server's VmRSS (bench.overload reads it too, but importing that brings torch along)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class LegitView:
    """What the legitimate client and the prober saw while the attack ran, and the server's RSS."""

    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    answer_ms: list[float] = field(default_factory=list)  # of the 200s
    probe_statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    probe_ms: list[float] = field(default_factory=list)  # of every probe, failed ones too
    rss_mb: list[float] = field(default_factory=list)
    seconds: float = 0

    def answered_per_s(self) -> float:
        return self.statuses["200"] / self.seconds if self.seconds else 0.0


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if the watch stops first."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def post_sentences(client: httpx.AsyncClient, view: LegitView, stop: asyncio.Event) -> None:
    while not stop.is_set():
        sent = time.monotonic()
        try:
            response = await client.post("/score", json=SENTENCE_BODY)
        except httpx.HTTPError as exc:
            view.statuses[type(exc).__name__] += 1
            await pause(stop, REFUSED_PAUSE_S)
            continue
        view.statuses[str(response.status_code)] += 1
        if response.status_code == 200:
            view.answer_ms.append((time.monotonic() - sent) * 1000)
        else:
            retry_after = float(response.headers.get("retry-after", REFUSED_PAUSE_S))
            await pause(stop, min(retry_after, LONGEST_RETRY_AFTER_S))


async def probe_liveness(client: httpx.AsyncClient, view: LegitView, stop: asyncio.Event) -> None:
    while not stop.is_set():
        sent = time.monotonic()
        try:
            view.probe_statuses[str((await client.get("/health/live")).status_code)] += 1
        except httpx.HTTPError as exc:
            view.probe_statuses[type(exc).__name__] += 1
        elapsed = time.monotonic() - sent
        view.probe_ms.append(elapsed * 1000)
        await pause(stop, max(0, PROBE_EVERY_S - elapsed))


async def sample_rss(pid: int, view: LegitView, stop: asyncio.Event) -> None:
    while not stop.is_set():
        view.rss_mb.append(rss_mb(pid))
        await pause(stop, RSS_EVERY_S)


def legit_client(target: Target, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=target.base_url,
        timeout=LEGIT_TIMEOUT_S,
        headers=target.auth_headers(),
        limits=httpx.Limits(max_connections=connections),
    )


async def watch_while(target: Target, attack_running: Awaitable[T]) -> tuple[T, LegitView]:
    """The legitimate client, the prober and the RSS sampler, until the attack is over."""
    view, stop = LegitView(), asyncio.Event()
    started = time.monotonic()
    async with legit_client(target, LEGIT_CONNECTIONS) as client, legit_client(target, 1) as prober:
        observers = [
            *(post_sentences(client, view, stop) for _ in range(LEGIT_CONNECTIONS)),
            probe_liveness(prober, view, stop),
            sample_rss(target.pid, view, stop),
        ]
        watching = asyncio.gather(*observers)
        try:
            result = await attack_running
            await asyncio.sleep(max(0, SHORTEST_WATCH_S - (time.monotonic() - started)))
        finally:
            view.seconds = time.monotonic() - started
            stop.set()
            await watching
    return result, view
