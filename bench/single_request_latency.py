"""Single-request latency: our /score over HTTP against transformers' plain fill-mask pipeline.

    python -m bench.single_request_latency --checkpoint DIR [--runs 20]

Both answer sample_request.json's inputs on the same checkpoint; the pipeline is called in process
(its floor: no HTTP at all), our server through a real `python -m app serve` process.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx

from bench.server_process import free_port, start_our_server, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]


def time_calls(call, runs: int) -> list[float]:
    call()  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def pipeline_latency(checkpoint: str, texts: list[str], runs: int) -> list[float]:
    from transformers import pipeline

    fill_mask = pipeline("fill-mask", model=checkpoint, device="cpu")
    return time_calls(lambda: [fill_mask(text, top_k=1) for text in texts], runs)


def server_latency(checkpoint: str, sample: dict, runs: int) -> list[float]:
    port = free_port()
    server = start_our_server(checkpoint, port)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, server, timeout_s=300)
        with httpx.Client(base_url=base_url, timeout=60) as client:
            return time_calls(lambda: client.post("/score", json=sample).raise_for_status(), runs)
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    sample = json.loads((ROOT / "sample_request.json").read_text())
    texts = sample["input_data"]["input_string"]

    rows = {
        "transformers pipeline (in process)": pipeline_latency(args.checkpoint, texts, args.runs),
        "our /score (HTTP)": server_latency(args.checkpoint, sample, args.runs),
    }
    print(
        f"sample_request.json ({len(texts)} inputs), median of {args.runs} runs, checkpoint {args.checkpoint}"
    )
    print("| path | p50 ms | min ms | max ms |\n|---|---:|---:|---:|")
    for name, timings in rows.items():
        print(f"| {name} | {statistics.median(timings):.1f} | {min(timings):.1f} | {max(timings):.1f} |")


if __name__ == "__main__":
    main()
