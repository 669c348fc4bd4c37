"""`make bench`: our server in fp32, bf16 and int8 against a naive pipeline-per-request baseline.

Same checkpoint (random weights, the exact bert-base-cased architecture and vocabulary), same
sentences, one server at a time on this machine. Before each of our servers starts, the offline
maximum of its precision is measured (bench/offline_maximum.py), so the report says what share
of the model's own speed the server delivers under load. Writes results.json, results.md and
chart.png.

    python -m bench.run [--checkpoint DIR] [--seconds 20] [--concurrency 1 8 32] [--modes ...]
                        [--sentences long|short]

A mode is `[device-]precision[:eager][@task][+wN][+kK]`: `fp32` is our server as it starts by
default (COMPILE=auto), `fp32:eager` the same with COMPILE=off, `cuda-fp16` on a GPU,
`int8@text-classification` a checkpoint with that head; `+w2` two front-end processes (WORKERS),
`+k2` or `+kauto` model instances (INSTANCES). The offline maximum is measured once per
precision and compile setting, with one batch at a time.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from app.compilation import CompileChoice
from app.cpu_features import read_cpu_features
from app.runtime import PrecisionChoice
from bench.load import collect_answers, load_client, run_load
from bench.offline_maximum import OfflineRates, offline_rates
from bench.report import write_chart, write_markdown
from bench.sentences import SHARED, masked_sentences
from bench.server_process import ServerExitedError, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "bench" / "checkpoints" / "bert-base-random"
DEFAULT_MODES = ["baseline", "fp32:eager", "fp32", "bf16:eager", "bf16", "int8", "int8@text-classification"]
# long: SQuAD's sentences of 6-40 words (median 21); short: 6-16 words, like Azure's sample requests.
SENTENCES = {"long": {"count": 1000, "max_words": 40}, "short": {"count": 500, "max_words": 16}}


@dataclass(frozen=True)
class Mode:
    """One of our servers: `[device-]precision[:eager][@task]` (see the module's doc)."""

    device: str
    precision: PrecisionChoice
    compile: CompileChoice  # the server's COMPILE: auto, or off for ":eager"
    task: str  # "" for the fill-mask checkpoint
    workers: int = 1
    instances: str = "1"

    @classmethod
    def parse(cls, name: str) -> "Mode":
        name, *processes = name.split("+")
        workers = next((int(part[1:]) for part in processes if part.startswith("w")), 1)
        instances = next((part[1:] for part in processes if part.startswith("k")), "1")
        head, _, task = name.partition("@")
        head, _, variant = head.partition(":")
        device, _, precision = head.rpartition("-")
        compile = "off" if variant == "eager" else "auto"
        return cls(device or "cpu", precision, compile, task, workers, instances)  # type: ignore[arg-type]


def ensure_checkpoint(path: Path, task: str = "fill-mask") -> Path:
    if not (path / "config.json").is_file():
        print(f"building a random-weight bert-base-cased {task} checkpoint in {path}", flush=True)
        tool = [sys.executable, str(SHARED / "tools" / "make_checkpoint.py"), str(path), "--task", task]
        subprocess.run(tool, check=True)
    return path


def checkpoint_for(mode: str, fill_mask_checkpoint: Path) -> Path:
    """The fill-mask checkpoint, or one with the head a mode's "@task" names, built beside it."""
    task = Mode.parse(mode).task
    if not task:
        return fill_mask_checkpoint
    return ensure_checkpoint(fill_mask_checkpoint.with_name(f"{fill_mask_checkpoint.name}-{task}"), task)


def server_command(mode: str, checkpoint: Path, port: int) -> list[str]:
    if mode == "baseline":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baseline_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    parsed = Mode.parse(mode)
    command = [
        sys.executable,
        "-m",
        "app",
        "serve",
        "--model",
        str(checkpoint),
        "--precision",
        parsed.precision,
    ]
    command += ["--device", parsed.device, "--compile", parsed.compile]
    command += ["--workers", str(parsed.workers), "--instances", parsed.instances]
    return [*command, "--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def running_server(mode: str, checkpoint: Path, log_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MODEL_ID": str(checkpoint), "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "warning"}
    log = (log_dir / f"server-{mode}.log").open("w")
    server = subprocess.Popen(
        server_command(mode, checkpoint, port), cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(base_url, server, timeout_s=600)
        except ServerExitedError as exc:
            last_line = (log_dir / f"server-{mode}.log").read_text().strip().splitlines()[-1]
            raise RuntimeError(last_line) from exc
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=120)
        log.close()


def agreement(answers: list[str], reference: list[str]) -> float:
    return sum(a == b for a, b in zip(answers, reference, strict=True)) / len(reference)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--seconds", type=float, default=20, help="load time per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--modes", nargs="+", default=DEFAULT_MODES)
    parser.add_argument("--check-sentences", type=int, default=200)
    parser.add_argument("--sentences", choices=list(SENTENCES), default="long")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    checkpoint = ensure_checkpoint(args.checkpoint)
    args.out.mkdir(parents=True, exist_ok=True)
    sentences = masked_sentences(**SENTENCES[args.sentences])
    check = sentences[: args.check_sentences]
    results: dict[str, Any] = {
        "machine": machine_description(),
        "sentences": f"{args.sentences}: {len(sentences)} sentences of {summarize_words(sentences)} words",
        "seconds": args.seconds,
        "load_client": load_client(),
        "modes": {},
    }
    answers: dict[str, list[str]] = {}
    offline: dict[tuple[Path, str, str, str], OfflineRates] = {}

    for mode in args.modes:
        print(f"== {mode}", flush=True)
        maximum = None
        mode_checkpoint = checkpoint_for(mode, checkpoint)
        if mode != "baseline":
            # Measured with no server running: the two would share the same cores.
            parsed = Mode.parse(mode)
            key = (mode_checkpoint, parsed.precision, parsed.device, parsed.compile)
            if key not in offline:
                offline[key] = offline_rates(
                    mode_checkpoint, parsed.precision, check, parsed.device, parsed.compile
                )
            rates = offline[key]
            maximum = rates.maximum
            print(f"offline: {json.dumps(asdict(rates))} sentences/s", flush=True)
        try:
            with running_server(mode, mode_checkpoint, args.out) as base_url:
                answers[mode] = asyncio.run(collect_answers(base_url, check))
                loads = []
                for concurrency in args.concurrency:
                    counters_before = engine_counters(base_url)
                    load = run_load(base_url, sentences, concurrency, args.seconds)
                    outcome: dict[str, Any] = load.as_dict()
                    counters_after = engine_counters(base_url)
                    if counters_before is not None and counters_after is not None:
                        outcome |= engine_outcome(counters_before, counters_after, load.seconds)
                    print(json.dumps(outcome), flush=True)
                    loads.append(outcome)
                results["modes"][mode] = {"loads": loads}
                if maximum is not None:
                    results["modes"][mode]["offline_maximum"] = maximum
                    results["modes"][mode]["offline"] = asdict(rates)
        except RuntimeError as exc:
            print(f"{mode} unavailable: {exc}", flush=True)
            results["modes"][mode] = {"unavailable": str(exc)}

    reference = answers.get("fp32")
    for mode, mode_answers in answers.items():
        if mode != "fp32" and "@" not in mode and reference is not None:
            key = "equal_to_fp32" if mode == "baseline" else "top1_agreement_with_fp32"
            results["modes"][mode][key] = agreement(mode_answers, reference)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = write_markdown(results, args.out / "results.md")
    write_chart(results, args.out / "chart.png")
    print(markdown)
    if "baseline" in answers and reference is not None and answers["baseline"] != reference:
        raise SystemExit("fp32 answers differ from the baseline's: see results.json")


def summarize_words(sentences: list[str]) -> str:
    words = sorted(len(sentence.split()) for sentence in sentences)
    return f"{words[0]}-{words[-1]} (median {words[len(words) // 2]})"


ENGINE_SERIES = (
    "bert_serving_model_busy_seconds_total",
    "bert_serving_batch_size_sum",
    "bert_serving_batch_size_count",
    "bert_serving_batch_tokens_sum",
)


def engine_counters(base_url: str) -> dict[str, float] | None:
    """Our server's busy seconds and batch sums from /metrics, over every model (None for the
    baseline, which has no metrics)."""
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    if response.status_code != 200:
        return None
    totals = dict.fromkeys(ENGINE_SERIES, 0.0)
    for line in response.text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def engine_outcome(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Share of the load's time the model computed, and its batches' mean inputs and tokens."""
    spent = {name: after[name] - before[name] for name in ENGINE_SERIES}
    batches = max(spent["bert_serving_batch_size_count"], 1)
    return {
        "model_busy": round(spent["bert_serving_model_busy_seconds_total"] / seconds, 3),
        "mean_batch_size": round(spent["bert_serving_batch_size_sum"] / batches, 1),
        "mean_batch_tokens": round(spent["bert_serving_batch_tokens_sum"] / batches, 1),
    }


def machine_description() -> str:
    """The CPU with the ISA features that decide bf16 and int8 speed (AMX, AVX512-BF16, VNNI)."""
    import platform

    import torch

    cpu = read_cpu_features().describe()
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} CPUs: {cpu}{gpu}; torch {torch.__version__}, Python {platform.python_version()}"


if __name__ == "__main__":
    main()
