"""What many models on one server cost in memory: a bert-base-cased-sized base with three LoRA
adapters (classification, NER, QA) and its own fill-mask in ONE server, against the base alone and
against four separate servers (the base, and each adapter merged into a checkpoint of its own).

Each server is `python -m app serve` in fp32, eager (COMPILE=off: compiled packages would add
their own copies), started one at a time; its RSS (VmRSS) is read once it is ready and every model
has answered a request.

    python -m bench.model_repository [--work DIR] [--size base|tiny]

The checkpoints are random weights with bert-base-cased's shape (../shared/tools/make_checkpoint.py);
the adapters are made as `finetune --lora` saves them (r 8, alpha 128 on query and value, the head and
pooler whole), with random matrices instead of trained ones: memory does not depend on their values.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.run import machine_description
from bench.server_process import ROOT, free_port, wait_until_ready

MAKE_CHECKPOINT = ROOT.parent / "shared" / "tools" / "make_checkpoint.py"
ADAPTERS = {
    "emotion": ("text-classification", {"inputs": "I love this."}),
    "ner": ("token-classification", {"inputs": "George lives in Paris."}),
    "qa": ("question-answering", {"inputs": {"question": "Where?", "context": "George lives in Paris."}}),
}
FILL_MASK = {"inputs": "Paris is the [MASK] of France."}


def make_models(work: Path, size: str) -> Path:
    """work/base (fill-mask), and per adapter work/<name>/adapter and work/<name>/model (merged)."""
    base = work / "base"
    if not (base / "config.json").is_file():
        command = [sys.executable, str(MAKE_CHECKPOINT), str(base), "--size", size, "--task", "fill-mask"]
        subprocess.run(command, check=True)
    for name, (task, _) in ADAPTERS.items():
        if not (work / name / "model" / "config.json").is_file():
            make_adapter(base, task, work / name)
    return base


def make_adapter(base: Path, task: str, output: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    from app.finetuning.lora import TASK_TYPES, save_adapter, save_merged
    from app.tasks.registry import TASKS

    labels = {"text-classification": 6, "token-classification": 9, "question-answering": 2}
    model = TASKS[task].head_class.from_pretrained(str(base), num_labels=labels[task])
    # Trained whole, as finetune --lora has them: the head, and the pooler a masked LM's weights lack.
    trained_whole = {
        "text-classification": ["classifier", "pooler"],
        "token-classification": ["classifier"],
        "question-answering": ["qa_outputs"],
    }
    config = LoraConfig(
        task_type=TASK_TYPES[task],
        r=8,
        lora_alpha=128,
        target_modules=["query", "value"],
        modules_to_save=trained_whole[task],
        init_lora_weights=False,  # random B as well as A: an adapter that changes the encoder
    )
    peft_model = get_peft_model(model, config)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    save_adapter(peft_model, tokenizer, output)  # type: ignore[arg-type]
    save_merged(peft_model, tokenizer, output / "model")  # type: ignore[arg-type]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def serve_and_measure(models: list[str], requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """RSS of one server with these `--model` arguments, after each named model answered once."""
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    for model in models:
        command += ["--model", model]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "warning", "COMPILE": "off"}
    started = time.perf_counter()
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, server, timeout_s=600)
        ready_s = time.perf_counter() - started
        for path, body in requests.items():
            response = httpx.post(f"{url}{path}", json=body, timeout=60)
            response.raise_for_status()
        time.sleep(1)
        return {"models": models, "rss_mb": round(rss_mb(server.pid), 1), "ready_s": round(ready_s, 1)}
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-model-repository"))
    parser.add_argument("--size", choices=["base", "tiny"], default="base")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "model_repository.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base = make_models(args.work, args.size)

    alone = serve_and_measure([str(base)], {"/": FILL_MASK})
    shared_models = [f"base={base}"] + [f"{name}={args.work / name / 'adapter'}" for name in ADAPTERS]
    shared_requests = {"/models/base": FILL_MASK} | {
        f"/models/{n}": body for n, (_, body) in ADAPTERS.items()
    }
    shared = serve_and_measure(shared_models, shared_requests)
    separate = [alone] + [
        serve_and_measure([str(args.work / name / "model")], {"/": body})
        for name, (_, body) in ADAPTERS.items()
    ]
    separate_sum = sum(server["rss_mb"] for server in separate)
    results = {
        "machine": machine_description(),
        "size": args.size,
        "command": "python -m bench.model_repository"
        + (f" --size {args.size}" if args.size != "base" else ""),
        "base_alone": alone,
        "shared_base_and_3_adapters": shared,
        "four_separate_servers": separate,
        "four_separate_servers_rss_mb": round(separate_sum, 1),
        "shared_over_base_alone": round(shared["rss_mb"] / alone["rss_mb"], 3),
        "separate_over_shared": round(separate_sum / shared["rss_mb"], 2),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps({key: value for key, value in results.items() if key != "four_separate_servers"}, indent=2)
    )


if __name__ == "__main__":
    main()
