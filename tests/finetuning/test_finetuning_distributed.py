"""`torchrun --nproc_per_node 2 -m app finetune ...` on a CPU: two processes in one gloo group train
data-parallel, and only rank 0 writes DIR."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.finetuning_runs import last_trainer_state, topic_rows, write_jsonl
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.mark.distributed
def test_torchrun_trains_data_parallel_and_rank_zero_writes_one_model(
    tmp_path: Path, trainable_bert_dir: Path
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", topic_rows(48, seed=1))
    validation = write_jsonl(tmp_path / "validation.jsonl", topic_rows(8, seed=2))
    output = tmp_path / "out"
    torchrun = Path(sys.executable).parent / "torchrun"
    command = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "app", "finetune"]
    command += ["text-classification", "--model", str(trainable_bert_dir), "--output", str(output)]
    command += ["--train", str(train), "--validation", str(validation), "--epochs", "2", "--batch-size", "4"]
    command += ["--learning-rate", "1e-2", "--seed", "0", "--precision", "fp32"]
    # Two processes on the CPU, each with one thread, even where a GPU is present.
    env = os.environ | {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "LOG_LEVEL": "info"}
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-3000:]

    state = last_trainer_state(output)
    assert state["global_step"] == 12  # 48 rows / (2 processes x batch 4) x 2 epochs; alone: 24
    assert state["train_batch_size"] == 4
    # The mean cross-entropy of two classes, not the world size times it, as a loss scaled for
    # summing heads would be (and its gradient twice too large).
    first_loss = next(entry["loss"] for entry in state["log_history"] if "loss" in entry)
    assert first_loss == pytest.approx(math.log(2), abs=0.2)
    checkpoint = output / "checkpoints" / "checkpoint-12"
    assert {p.name for p in checkpoint.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    assert finished.stderr.count("New text-classification head") == 2  # both ranks loaded the model
    # Only rank 0 scored the splits and wrote DIR.
    assert finished.stdout.count("model in ") == 1
    assert finished.stdout.count("validation: ") == 1
    assert json.loads((output / "model" / "config.json").read_text())["id2label"] == {
        "0": "zebra",
        "1": "apple",
    }
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["validation"]["examples"] == 8
    assert len((output / "predictions" / "validation.jsonl").read_text().splitlines()) == 8
