"""Where the event loop's CPU goes per `/score` request: a per-stage table.

The server (as `python -m app serve` runs it, in this process, on a tiny checkpoint, so the model
costs almost nothing) is profiled by cProfile on the event loop's thread only: where HTTP,
middleware, routing, validation, tokenizing, the hop to the engine, decoding, JSON, logs and
metrics happen; not the inference thread. After a warm-up, wrk posts one short sentence per
request for `--seconds`; every function's own time (cProfile's tottime) is summed by the stage its
module belongs to, and divided by the requests served. Times are the thread's CPU time, not the wall
clock: waits for the GIL (the inference thread) or for a core (torch's threads, wrk) are left out.
cProfile's own overhead inflates every stage (roughly 2x for small Python functions), so read the
shares, and `bench.http_path` for the unprofiled CPU per request.

    python -m bench.request_path [--seconds 10] [--concurrency 32]

Needs wrk and ../shared beside the checkout.
"""

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import uvloop

from app.config import Settings
from bench.http_path import tiny_checkpoint
from bench.load import request_body, run_wrk_load
from bench.sentences import masked_sentences
from bench.server_process import free_port

# (stage, substrings of a function's file or name), first match wins: our modules before the
# libraries they call into.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("access log", ("logging/", "app/serving/observability.py:log", "pythonjsonlogger")),
    ("metrics", ("prometheus_client", "app/serving/metrics.py")),
    ("admission, API key, limits", ("app/serving/admission.py", "app/serving/body_receiver.py")),
    ("request ids, context", ("app/serving/observability.py", "contextvars")),
    ("tokenizing", ("tokenizers", "app/tasks/base.py", "app/tasks/mask_spelling.py", "method 'encode'")),
    ("decode (answers)", ("app/tasks/fill_mask", "app/tasks/azure_answers.py", "method 'decode'")),
    ("engine hop (queue, futures, thread)", ("app/engine/", "concurrent/futures", "asyncio/futures")),
    (
        "JSON parse and validation",
        ("app/serving/guards.py", "app/serving/validation.py", "pydantic", "json/decoder", "loads"),
    ),
    ("JSON answer", ("json/encoder", "app/serving/responses.py", "dumps")),
    ("the data plane (jobs, routes)", ("app/serving/",)),
    ("FastAPI and Starlette (routing, dependencies)", ("fastapi/", "starlette/")),
    ("HTTP protocol (uvicorn, httptools)", ("uvicorn/", "httptools", "app/serving/connections.py")),
    ("asyncio event loop", ("asyncio/", "uvloop", "selectors", "socket")),
)


def stage_of(file: str, function: str) -> str:
    where = f"{file}:{function}"
    for stage, patterns in STAGES:
        if any(pattern in where for pattern in patterns):
            return stage
    return "other"


def per_stage(profile: Path) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """Seconds of own time per stage, and the functions no stage claims, most costly first."""
    stats = pstats.Stats(str(profile))
    totals: dict[str, float] = {}
    unclaimed: dict[str, float] = {}

    def add(file: str, line: int, function: str, seconds: float) -> None:
        stage = stage_of(file, function)
        totals[stage] = totals.get(stage, 0.0) + seconds
        if stage == "other":
            where = f"{file}:{line}:{function}"
            unclaimed[where] = unclaimed.get(where, 0.0) + seconds

    for (file, line, function), (_, _, own, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if file == "~" and callers and stage_of(file, function) == "other":
            # A builtin (isinstance, dict.get, ...) counts where it was called from.
            for (caller_file, caller_line, caller_function), timing in callers.items():
                add(caller_file, caller_line, caller_function, timing[2])
        else:
            add(file, line, function, own)
    return totals, sorted(((seconds, where) for where, seconds in unclaimed.items()), reverse=True)


async def profile_load(
    settings: Any, sentences: list[str], seconds: int, concurrency: int
) -> tuple[Any, Any]:
    """Serve in this process, as `python -m app serve` does, and profile the event loop's thread
    while wrk loads it (after a warm-up); wrk waits on a worker thread, which is not profiled."""
    from app.logs import configure_logging, configure_request_log
    from app.serving.app import create_app
    from app.serving.connections import server_config

    configure_logging(settings.log_level)
    configure_request_log()
    app = create_app(settings)
    server = uvicorn.Server(server_config(app, settings))
    serving = asyncio.create_task(server.serve())
    base_url = f"http://127.0.0.1:{settings.port}"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{base_url}/health/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            (await client.post(f"{base_url}/score", json=request_body(sentences[0]))).raise_for_status()
        await asyncio.to_thread(run_wrk_load, base_url, sentences, concurrency, 3)  # warm-up
        profiler = cProfile.Profile(time.thread_time)  # CPU time: not the waits for the GIL or a core
        profiler.enable()
        load = await asyncio.to_thread(run_wrk_load, base_url, sentences, concurrency, seconds)
        profiler.disable()
    finally:
        server.should_exit = True
        await serving
    return load, profiler


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--keep", type=Path, help="write the profile here too (pstats format)")
    args = parser.parse_args()
    sentences = masked_sentences(500, min_words=6, max_words=16)
    with tempfile.TemporaryDirectory() as workdir:
        tiny, profile = tiny_checkpoint(Path(workdir)), Path(workdir) / "server.prof"
        os.environ["HF_HUB_OFFLINE"] = "1"
        settings = Settings(
            model_id=str(tiny), compile="off", log_level="warning", host="127.0.0.1", port=free_port()
        )
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            load, profiler = runner.run(profile_load(settings, sentences, args.seconds, args.concurrency))
        profiler.dump_stats(profile)
        if args.keep:
            profiler.dump_stats(args.keep)
        totals, unclaimed = per_stage(profile)
    requests = max(load.requests, 1)
    whole = sum(totals.values())
    print(
        f"{load.requests} requests at c={args.concurrency} ({load.sentences_per_s:.0f}/s under the profiler)"
    )
    print("\n| stage | µs per request (profiled) | share |\n|---|---:|---:|")
    for stage, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"| {stage} | {seconds / requests * 1e6:.0f} | {seconds / whole:.0%} |")
    print(f"| all of the event loop's thread | {whole / requests * 1e6:.0f} | 100% |")
    print("\nThe costliest functions in 'other':")
    for seconds, where in unclaimed[:15]:
        print(f"  {seconds / requests * 1e6:6.0f} µs  {where}")


if __name__ == "__main__":
    main()
