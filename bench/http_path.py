"""What the server costs per request when the model costs almost nothing: a tiny checkpoint (2
layers, hidden 32, the real cased vocabulary) served by `python -m app serve`, loaded by wrk with
one short sentence per `/score` request, then `GET /health/live` for the floor of routing and
middleware alone. It prints requests/s and the server process's CPU per request (user + system,
every thread: event loop, inference thread, torch's threads) and the event loop's thread's alone,
read from /proc.
The server runs as it does by default, the access log on (written to /dev/null).

    python -m bench.http_path [--seconds 10] [--concurrency 32] [--torch-threads 1] [--log-level info]
        [--compile on]

Needs wrk (`apt-get install wrk`) and ../shared beside the checkout.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from bench.load import request_body, run_wrk_load
from bench.sentences import masked_sentences
from bench.server_process import ROOT, free_port, start_our_server, wait_until_ready

SHARED = ROOT.parent / "shared"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat: Path) -> float:
    """User + system CPU from a /proc stat file: a process's, or one thread's (task/<tid>/stat)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def process_cpu_seconds(pid: int) -> float:
    return cpu_seconds(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(pid: int, tid: int) -> float:
    return cpu_seconds(Path(f"/proc/{pid}/task/{tid}/stat"))


def server_processes(pid: int) -> dict[int, str]:
    """The server's process and its children (WORKERS=N: the engine and the front-ends), by name."""
    found = {pid: Path(f"/proc/{pid}/comm").read_text().strip()}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found |= server_processes(int(child))
    return found


def cpu_by_name(pid: int) -> dict[str, float]:
    """CPU seconds of the server's processes, summed per process name."""
    totals: dict[str, float] = {}
    for process, name in server_processes(pid).items():
        totals[name] = totals.get(name, 0.0) + process_cpu_seconds(process)
    return totals


def wrk_get(url: str, concurrency: int, seconds: int) -> int:
    """Requests wrk completed against a GET url."""
    completed = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    )
    line = next(line for line in completed.stdout.splitlines() if "requests in" in line)
    return int(line.split()[0])


def tiny_checkpoint(folder: Path) -> Path:
    """A tiny random-weight checkpoint with the real cased vocabulary, written to `folder`/tiny:
    a model whose forward costs almost nothing, so the server's own costs show."""
    tiny = folder / "tiny"
    subprocess.run(
        [sys.executable, str(SHARED / "tools" / "make_checkpoint.py"), str(tiny), "--size", "tiny"],
        check=True,
        capture_output=True,
    )
    return tiny


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--torch-threads", type=int, help="TORCH_THREADS for the server (default: all CPUs)")
    parser.add_argument(
        "--log-level", default="info", help="the server's LOG_LEVEL (info, as by default: the access log on)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="the server's WORKERS: front-end processes around the engine"
    )
    parser.add_argument(
        "--compile",
        default="off",
        help="the server's COMPILE (off by default: the tiny model's eager Python shows)",
    )
    args = parser.parse_args()
    sentences = masked_sentences(500, min_words=6, max_words=16)
    with tempfile.TemporaryDirectory() as workdir:
        tiny = tiny_checkpoint(Path(workdir))
        port = free_port()
        env = {"WORKERS": str(args.workers), "COMPILE": args.compile, "LOG_LEVEL": args.log_level}
        if args.torch_threads:
            env["TORCH_THREADS"] = str(args.torch_threads)
        server = start_our_server(tiny, port, **env)
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base_url, server, timeout_s=600)
            httpx.post(f"{base_url}/score", json=request_body(sentences[0]), timeout=10).raise_for_status()
            run_wrk_load(base_url, sentences, args.concurrency, 3)  # warm-up
            before = cpu_by_name(server.pid)
            loop_before = thread_cpu_seconds(server.pid, server.pid)
            score = run_wrk_load(base_url, sentences, args.concurrency, args.seconds)
            after = cpu_by_name(server.pid)
            score_cpu = sum(after.values()) - sum(before.values())
            loop_cpu = thread_cpu_seconds(server.pid, server.pid) - loop_before
            per_process = {name: after[name] - before.get(name, 0.0) for name in after}
            before_live = sum(cpu_by_name(server.pid).values())
            live_requests = wrk_get(f"{base_url}/health/live", args.concurrency, args.seconds)
            live_cpu = sum(cpu_by_name(server.pid).values()) - before_live
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "concurrency": args.concurrency,
        "torch_threads": args.torch_threads,
        "log_level": args.log_level,
        "compile": args.compile,
        "workers": args.workers,
        "score_requests_per_s": score.sentences_per_s,
        "score_errors": score.errors,
        "score_p50_ms": score.p50_ms,
        "score_p99_ms": score.p99_ms,
        "score_cpu_us_per_request": round(score_cpu / max(score.requests, 1) * 1e6),
        "score_event_loop_cpu_us_per_request": round(loop_cpu / max(score.requests, 1) * 1e6)
        if args.workers == 1
        else None,
        "score_cpu_us_per_request_by_process": {
            name: round(seconds / max(score.requests, 1) * 1e6) for name, seconds in per_process.items()
        },
        "live_requests_per_s": round(live_requests / args.seconds),
        "live_cpu_us_per_request": round(live_cpu / max(live_requests, 1) * 1e6),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
