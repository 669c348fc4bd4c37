"""Hostile clients against our server: what a legitimate client saw meanwhile, and the server's memory.

    python -m bench.attacks [--seconds 45] [--only NAME ...] [--json OUT]

Each attack runs for --seconds against `python -m app serve` on the random bert-base fill-mask
checkpoint with default settings (unauthorized-flood's server has API_KEY set), while a legitimate
client (bench/legitimate_client.py) POSTs one short sentence to /score from 2 connections (10 s
timeout, honouring Retry-After up to 2 s) and a prober GETs /health/live every 0.25 s. The attackers
(bench/hostile_clients.py) run in a process of their own. The server's RSS (VmRSS: one process,
every thread) is sampled every 0.25 s, and read again a few seconds after the attackers' sockets
closed. A server that died or stopped answering /score is started again before the next attack.

Attacks, in the order they run: slow-body-70, slow-body-200 and slow-chunked-70 (a 1 MB body, one
byte every 2 s), slow-headers-200 (a header, one byte every 2 s), large-texts-8 (one burst of 1.9 MB
inputs), large-allowed-8 (10 inputs of 99,000 characters per request, the whole time),
tokenize-large, lone-surrogate (a `\\ud800` on every protocol's route), huge-headers-20 (a 50 MB
header line), anonymous-unload (the repository's unload with no key, as a cross-site form sends it),
unauthorized-flood (300 connections resending a wrong key; the keyed client's throughput against
20 s of it alone). About 10 minutes at the default --seconds.
"""

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import statistics
import subprocess
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.hostile_clients import (
    SENTENCE_BODY,
    SLOW_BODY,
    SLOW_CHUNKED,
    SLOW_HEADERS,
    Attacker,
    AttackerOutcome,
    Target,
    anonymous_unload,
    huge_headers,
    large_texts,
    lone_surrogates,
    slow_sender,
    tokenize_large,
    wrong_key_flood,
)
from bench.legitimate_client import rss_mb, watch_while
from bench.load import percentile
from bench.server_process import free_port, start_our_server, wait_until_ready

ATTACKER_GRACE_S = 120  # how long the attackers may still wait for answers after their time is up
API_KEY = "secret"


@dataclass(frozen=True)
class Attack:
    name: str
    attacker: Attacker
    settle_s: float = 5  # RSS is read again this long after the attack ended
    api_key: str | None = None  # the server runs with API_KEY set to this
    reference_s: float = 0  # first the legitimate client alone this long: its reference throughput


def slow(connections: int, head: bytes, piece: bytes) -> Attacker:
    return functools.partial(slow_sender, connections=connections, head=head, piece=piece)


# Those that leave the most behind (memory, an unloaded model, another server) come last.
ATTACKS = [
    Attack("slow-body-70", slow(70, SLOW_BODY, b" ")),
    Attack("slow-body-200", slow(200, SLOW_BODY, b" ")),
    Attack("slow-chunked-70", slow(70, SLOW_CHUNKED, b"1\r\n \r\n")),
    Attack("slow-headers-200", slow(200, SLOW_HEADERS, b"a")),
    Attack(
        "large-texts-8",
        functools.partial(large_texts, requests=8, inputs=1, chars=1_900_000, repeat=False),
        settle_s=10,
    ),
    Attack(
        "large-allowed-8",
        functools.partial(large_texts, requests=8, inputs=10, chars=99_000, repeat=True),
        settle_s=10,
    ),
    Attack("tokenize-large", tokenize_large),
    Attack("lone-surrogate", lone_surrogates),
    Attack("huge-headers-20", functools.partial(huge_headers, connections=20, megabytes=50)),
    Attack("anonymous-unload", anonymous_unload),
    Attack(
        "unauthorized-flood",
        functools.partial(wrong_key_flood, connections=300),
        api_key=API_KEY,
        reference_s=20,
    ),
]
ATTACKS_BY_NAME = {attack.name: attack for attack in ATTACKS}


def run_attacker(name: str, target: Target, seconds: float) -> AttackerOutcome:
    """The attackers' process: one attack; what it got so far if it outlives its grace."""
    outcome = AttackerOutcome()

    async def bounded() -> None:
        try:
            attack = ATTACKS_BY_NAME[name].attacker(target, seconds, outcome)
            await asyncio.wait_for(attack, seconds + ATTACKER_GRACE_S)
        except asyncio.TimeoutError:
            outcome.details["stopped"] = f"still waiting for answers {ATTACKER_GRACE_S} s after its time"

    asyncio.run(bounded())
    return outcome


@dataclass
class AttackResult:
    attack: str
    legit_statuses: dict[str, int]
    legit_per_s: float
    legit_alone_per_s: float | None  # where the attack has a reference phase
    legit_p50_ms: float | None
    legit_p99_ms: float | None
    live_statuses: dict[str, int]
    live_p99_ms: float | None
    live_max_ms: float | None
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    attacker_got: dict[str, int]
    details: dict[str, str]
    server_restarted_before: bool


def rounded_percentile(values: list[float], fraction: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return round(statistics.median(ordered) if fraction == 0.5 else percentile(ordered, fraction), 1)


async def attack_and_watch(attack: Attack, target: Target, seconds: float, restarted: bool) -> AttackResult:
    rss_before = rss_mb(target.pid)
    alone = (await watch_while(target, asyncio.sleep(attack.reference_s)))[1] if attack.reference_s else None
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as attackers:
        attacking = asyncio.get_running_loop().run_in_executor(
            attackers, run_attacker, attack.name, target, seconds
        )
        outcome, view = await watch_while(target, attacking)
    await asyncio.sleep(attack.settle_s)
    return AttackResult(
        attack=attack.name,
        legit_statuses=dict(view.statuses),
        legit_per_s=round(view.answered_per_s(), 2),
        legit_alone_per_s=round(alone.answered_per_s(), 2) if alone else None,
        legit_p50_ms=rounded_percentile(view.answer_ms, 0.5),
        legit_p99_ms=rounded_percentile(view.answer_ms, 0.99),
        live_statuses=dict(view.probe_statuses),
        live_p99_ms=rounded_percentile(view.probe_ms, 0.99),
        live_max_ms=round(max(view.probe_ms), 1) if view.probe_ms else None,
        rss_before_mb=round(rss_before, 1),
        rss_peak_mb=round(max([rss_before, *view.rss_mb]), 1),
        rss_after_mb=round(rss_mb(target.pid), 1),
        attacker_got=dict(outcome.answers),
        details=outcome.details,
        server_restarted_before=restarted,
    )


class AttackedServer:
    """Our server as a process, started again when an attack left it dead or not answering /score."""

    def __init__(self, checkpoint: Path, api_key: str | None) -> None:
        self.checkpoint, self.api_key = checkpoint, api_key
        self.process: subprocess.Popen[bytes] | None = None
        self.target: Target | None = None

    def serving_target(self) -> tuple[Target, bool]:
        """The server, ready to serve; whether it had to be started again for that."""
        if self.target is not None and self.answers_score(self.target):
            return self.target, False
        restarted = self.target is not None
        self.stop()
        port = free_port()
        self.process = start_our_server(
            self.checkpoint, port, **({"API_KEY": self.api_key} if self.api_key else {})
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(base_url, self.process, timeout_s=600)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        model = httpx.get(f"{base_url}/v1/models", headers=headers, timeout=10).json()["models"][0]
        self.target = Target(port, self.process.pid, model, self.api_key)
        return self.target, restarted

    def answers_score(self, target: Target) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            response = httpx.post(
                f"{target.base_url}/score", json=SENTENCE_BODY, headers=target.auth_headers(), timeout=60
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process, self.target = None, None


def run_attacks(attacks: list[Attack], checkpoint: Path, seconds: float) -> list[AttackResult]:
    """Each attack on a server with its settings; one server at a time, so they share no CPU."""
    results: list[AttackResult] = []
    server: AttackedServer | None = None
    try:
        for attack in attacks:
            if server is None or server.api_key != attack.api_key:
                if server is not None:
                    server.stop()
                server = AttackedServer(checkpoint, attack.api_key)
            target, restarted = server.serving_target()
            print(f"== {attack.name}", flush=True)
            results.append(asyncio.run(attack_and_watch(attack, target, seconds, restarted)))
            print(json.dumps(asdict(results[-1])), flush=True)
    finally:
        if server is not None:
            server.stop()
    return results


def format_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{status} x{count}" for status, count in sorted(counts.items(), key=lambda kv: -kv[1]))


def format_number(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def markdown_table(results: list[AttackResult]) -> str:
    lines = [
        "| attack | legit statuses | legit 200/s | legit p50 / p99 ms | /health/live p99 / max ms "
        "| RSS before MB | peak RSS MB | RSS after MB | the attacker got |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        per_s = f"{result.legit_per_s:.1f}"
        if alone := result.legit_alone_per_s:
            per_s += f" ({result.legit_per_s / alone:.0%} of {alone:.1f} alone)"
        lines.append(
            f"| {result.attack}{' (restarted)' if result.server_restarted_before else ''} "
            f"| {format_counts(result.legit_statuses)} | {per_s} "
            f"| {format_number(result.legit_p50_ms)} / {format_number(result.legit_p99_ms)} "
            f"| {format_number(result.live_p99_ms)} / {format_number(result.live_max_ms)} "
            f"| {result.rss_before_mb:.0f} | {result.rss_peak_mb:.0f} | {result.rss_after_mb:.0f} "
            f"| {format_counts(result.attacker_got)} |"
        )
    return "\n".join(lines)


def details_text(results: list[AttackResult]) -> str:
    lines = []
    for result in results:
        if result.details:
            lines.append(f"\n{result.attack}:")
            lines += [f"- {name}: {text}" for name, text in result.details.items()]
    return "\n".join(lines)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} CPUs"
    return f"{os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=45, help="how long each attack lasts")
    parser.add_argument("--only", nargs="+", choices=list(ATTACKS_BY_NAME), help="these attacks alone")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    # Here, not at the top: bench.run brings torch, which the attackers' processes do not need.
    from bench.run import DEFAULT_CHECKPOINT, ensure_checkpoint

    attacks = [attack for attack in ATTACKS if not args.only or attack.name in args.only]
    results = run_attacks(attacks, ensure_checkpoint(DEFAULT_CHECKPOINT), args.seconds)
    print(f"\n{cpu_model()}; each attack {args.seconds:g} s\n")
    print(markdown_table(results))
    print(details_text(results))
    if args.json:
        report = {"cpu": cpu_model(), "seconds": args.seconds, "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
