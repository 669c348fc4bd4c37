"""What the way between a front-end and the engine process costs per request (WORKERS=N), apart
from everything else: the `run` call a front-end makes for one `/score` request of one short
sentence — its token ids out, the fill-mask head's candidates back — through the same
`EngineClient`, pickled messages and ZMQ sockets the server uses, answered by an engine process
that computes nothing (it returns outputs the tiny checkpoint computed once, up front).

It prints, per call, the CPU time of each side (front-end: encoding the call, ZMQ, decoding the
answer, resolving its future; engine: the same on its side) and the round trip's median at one
call at a time, then calls/s with 32 in flight.

    python -m bench.ipc [--calls 20000] [--concurrency 32]

Needs ../shared beside the checkout (the tiny checkpoint's vocabulary).
"""

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

from app.tasks.fill_mask import FillMaskOptions
from app.workers.engine_client import EngineClient
from app.workers.messages import decode_call, encode_answer
from bench.sentences import masked_sentences


def engine_process(address: str, outputs: list[Any], cpu_seconds: Any) -> None:
    """A ROUTER that answers every `run` call with `outputs`, as `EngineServer` frames its answers,
    until a `stop` call; its CPU time goes to `cpu_seconds`."""
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.bind(address)
    started = time.process_time()
    while True:
        sender, payload = socket.recv_multipart()
        call_id, kind, _ = decode_call(payload)
        if kind == "stop":  # type: ignore[comparison-overlap]
            break
        socket.send_multipart([sender, encode_answer(call_id, True, outputs)])
    cpu_seconds.value = time.process_time() - started
    socket.send_multipart([sender, encode_answer(call_id, True, None)])
    socket.close(linger=1000)
    context.term()


async def front_end(address: str, features: list[Any], calls: int, concurrency: int) -> dict[str, float]:
    client = EngineClient(address)
    client.start()

    async def one() -> float:
        started = time.perf_counter()
        await client.call("run", "model", "fill-mask", features, None)
        return time.perf_counter() - started

    for _ in range(200):  # connected and warm
        await one()
    round_trips = [await one() for _ in range(calls // 10)]
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    await client.call("stop")  # type: ignore[arg-type]
    client.close()
    return {
        "round_trip_p50_us": statistics.median(round_trips) * 1e6,
        "calls_per_s": calls / wall,
        "front_end_cpu_us_per_call": cpu / calls * 1e6,
    }


def request_features(checkpoint: Path) -> tuple[list[Any], list[Any]]:
    """One short sentence's features and the head's outputs for them, from the tiny checkpoint."""
    from app.tasks.checkpoint import load_fill_mask_model

    task = load_fill_mask_model(str(checkpoint), device="cpu")
    (encoded,) = task.encode(masked_sentences(1, max_words=16), FillMaskOptions())
    features = list(encoded.features)  # type: ignore[union-attr]
    return features, task.forward(features)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    from bench.http_path import tiny_checkpoint

    with tempfile.TemporaryDirectory() as folder:
        features, outputs = request_features(tiny_checkpoint(Path(folder)))
        address = f"ipc://{folder}/engine.sock"
        context = multiprocessing.get_context("spawn")
        engine_cpu = context.Value("d", 0.0)
        engine = context.Process(target=engine_process, args=(address, outputs, engine_cpu))
        engine.start()
        measured = asyncio.run(front_end(address, features, args.calls, args.concurrency))
        engine.join(timeout=30)
    calls = args.calls + 200 + args.calls // 10  # the engine counts every call it answered
    measured["engine_cpu_us_per_call"] = engine_cpu.value / calls * 1e6
    print(json.dumps({name: round(value, 1) for name, value in measured.items()}))


if __name__ == "__main__":
    main()
