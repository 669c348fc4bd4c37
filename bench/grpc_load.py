"""The Open Inference Protocol over REST and over gRPC: one server process, the same sentences, one run.

One server (`python -m app serve` with GRPC_PORT) answers `POST /v2/models/bert/infer` (JSON) and
`inference.GRPCInferenceService/ModelInfer` (protobuf, the text as a raw BYTES tensor). At each
concurrency, three closed-loop clients in turn send one sentence per request:

- wrk on REST: a C client that leaves the CPUs to the server, the reference for what HTTP reaches;
- httpx on REST and grpc.aio on gRPC: both Python, both timed by the same loop (bench/load.py's
  `closed_loop_load`), so the client's own CPU cost, which the server shares on a machine with few
  cores, is alike on both sides. Their ratio is the comparison of the transports; wrk has no gRPC
  twin here, so it is not compared with the gRPC client.

Every answer is checked: a 200 (or no RpcError) with an output named `token_str` (wrk: the status).

    python -m bench.grpc_load [--sentences short|long] [--concurrency 1,8,32] [--seconds 20]
                              [--checkpoint DIR] [--out bench/results/grpc]
"""

import argparse
import asyncio
import itertools
import json
import os
import struct
from pathlib import Path
from typing import Any

import grpc
import httpx

from app.serving.grpc_service.generated.open_inference_pb2 import ModelInferRequest, ModelInferResponse
from bench.load import LoadResult, closed_loop_load, run_httpx_load, run_wrk_load
from bench.run import DEFAULT_CHECKPOINT, SENTENCES, ensure_checkpoint, machine_description, summarize_words
from bench.sentences import masked_sentences
from bench.server_process import free_port, start_our_server, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bert"
REST_PATH = f"/v2/models/{MODEL}/infer"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
WARM_UP_S = 3


def rest_body(sentence: str) -> dict[str, Any]:
    return {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [sentence]}]}


def rest_answered(response: httpx.Response) -> bool:
    try:
        return any(output["name"] == "token_str" for output in response.json()["outputs"])
    except (ValueError, KeyError, TypeError):
        return False


def grpc_request(sentence: str) -> ModelInferRequest:
    """One BYTES element, raw: its 4-byte little-endian length, then its UTF-8 bytes."""
    text = sentence.encode()
    tensor = ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[1])
    return ModelInferRequest(
        model_name=MODEL, inputs=[tensor], raw_input_contents=[struct.pack("<I", len(text)) + text]
    )


async def run_grpc_load(target: str, sentences: list[str], concurrency: int, seconds: float) -> LoadResult:
    """N loops on ONE grpc.aio channel (one HTTP/2 connection, the calls multiplexed on it). Measured
    against one channel per loop (each its own connection, `grpc.use_local_subchannel_pool`) on
    2 CPUs, tiny checkpoint, 4 s runs: one channel 391-397 req/s at c=8 and 457-500 at c=32, N
    channels 358-374 and 466-473. No better with N, and one channel is how gRPC is meant to be used."""
    requests = itertools.cycle([grpc_request(sentence) for sentence in sentences])
    async with grpc.aio.insecure_channel(target) as channel:
        infer = channel.unary_unary(
            MODEL_INFER,
            request_serializer=ModelInferRequest.SerializeToString,
            response_deserializer=ModelInferResponse.FromString,
        )

        async def send() -> bool:
            try:
                response = await infer(next(requests), timeout=120)
            except grpc.RpcError:
                return False
            return any(output.name == "token_str" for output in response.outputs)

        return await closed_loop_load(send, concurrency, seconds)


def python_clients(
    base_url: str, target: str, sentences: list[str], concurrency: int, seconds: float
) -> dict[str, LoadResult]:
    """httpx on REST, then grpc.aio on gRPC (never two clients at once)."""
    rest = run_httpx_load(base_url, sentences, concurrency, seconds, REST_PATH, rest_body, rest_answered)
    return {
        "rest httpx": asyncio.run(rest),
        "grpc aio": asyncio.run(run_grpc_load(target, sentences, concurrency, seconds)),
    }


def measure(
    base_url: str, target: str, sentences: list[str], concurrency: int, seconds: float
) -> dict[str, LoadResult]:
    wrk = run_wrk_load(base_url, sentences, concurrency, seconds, path=REST_PATH, body=rest_body)
    return {"rest wrk": wrk, **python_clients(base_url, target, sentences, concurrency, seconds)}


def warm_up(base_url: str, target: str, sentences: list[str], concurrency: int) -> None:
    """A few seconds on each path; a path that answers wrongly stops the benchmark here."""
    for name, result in python_clients(base_url, target, sentences, concurrency, WARM_UP_S).items():
        if result.errors or not result.requests:
            raise SystemExit(f"{name} warm-up: {result.errors} errors in {result.requests + result.errors}")


def table(rows: dict[int, dict[str, LoadResult]]) -> str:
    lines = [f"{'transport/client':<18}{'conc.':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"]
    for concurrency, results in rows.items():
        for name, r in results.items():
            lines.append(
                f"{name:<18}{concurrency:>6}{r.sentences_per_s:>10.1f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}"
                f"{r.errors:>8}"
            )
    lines.append("gRPC / REST, Python clients (grpc.aio / httpx):")
    for concurrency, ratio in ratios(rows).items():
        lines.append(f"  c={concurrency}: {ratio['requests_per_s']:.2f}x req/s, {ratio['p50']:.2f}x p50")
    return "\n".join(lines)


def ratios(rows: dict[int, dict[str, LoadResult]]) -> dict[int, dict[str, float]]:
    out = {}
    for concurrency, results in rows.items():
        rest, grpc_ = results["rest httpx"], results["grpc aio"]
        out[concurrency] = {
            "requests_per_s": round(grpc_.sentences_per_s / max(rest.sentences_per_s, 1e-9), 3),
            "p50": round(grpc_.p50_ms / max(rest.p50_ms, 1e-9), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--seconds", type=float, default=20, help="load time per client and concurrency")
    parser.add_argument(
        "--concurrency", type=lambda text: [int(n) for n in text.split(",")], default=[1, 8, 32]
    )
    # short by default: the transport's share of a request is largest where the model's is smallest.
    parser.add_argument("--sentences", choices=list(SENTENCES), default="short")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "grpc")
    args = parser.parse_args()

    checkpoint = ensure_checkpoint(args.checkpoint)
    args.out.mkdir(parents=True, exist_ok=True)
    sentences = masked_sentences(**SENTENCES[args.sentences])
    machine = machine_description()
    described = f"{args.sentences}: {len(sentences)} sentences of {summarize_words(sentences)} words"
    print(
        f"{machine}\n{checkpoint.name}, {described}, {args.seconds:g} s per client and concurrency.\n"
        f"{os.cpu_count()} CPUs, few: each client shares them with the server (wrk, in C, the least).",
        flush=True,
    )
    port, grpc_port = free_port(), free_port()
    base_url, target = f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"
    server = start_our_server(checkpoint, port, GRPC_PORT=str(grpc_port), MODEL_NAME=MODEL)
    try:
        wait_until_ready(base_url, server, timeout_s=600)
        warm_up(base_url, target, sentences, max(args.concurrency))
        rows = {}
        for concurrency in args.concurrency:
            rows[concurrency] = measure(base_url, target, sentences, concurrency, args.seconds)
            print(json.dumps({name: r.as_dict() for name, r in rows[concurrency].items()}), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=120)

    results = {
        "machine": machine,
        "cpus": os.cpu_count(),
        "checkpoint": str(checkpoint),
        "sentences": described,
        "seconds": args.seconds,
        "loads": {f"{name} c={c}": r.as_dict() for c, results in rows.items() for name, r in results.items()},
        "grpc_vs_rest_python": {f"c={c}": ratio for c, ratio in ratios(rows).items()},
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
