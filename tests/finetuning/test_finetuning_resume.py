"""An interrupted fine-tuning run, started again with the same command, continues from its last
checkpoint (`--resume auto`); `--resume never` trains from step 0."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from app.finetuning.training import TaskTrainer
from tests.finetuning_runs import finetune, last_trainer_state, topic_rows, write_jsonl

STEPS_PER_EPOCH = 4  # 16 rows, batch 4
ARGUMENTS = ["--epochs", "2", "--batch-size", "4", "--learning-rate", "1e-2"]


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("resume-data") / "train.jsonl", topic_rows(16, seed=7))


@pytest.fixture(scope="module")
def uninterrupted(
    tmp_path_factory: pytest.TempPathFactory, train_file: Path, trainable_bert_dir: Path
) -> Path:
    output = tmp_path_factory.mktemp("uninterrupted") / "out"
    assert finetune("text-classification", trainable_bert_dir, output, *ARGUMENTS, train=train_file) == 0
    return output


class StepCounter:
    """Counts the optimizer steps a run takes (one training_step each: no gradient accumulation)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps = 0
        original = TaskTrainer.training_step

        def counting(trainer: TaskTrainer, *args: Any, **kwargs: Any) -> Any:
            self.steps += 1
            return original(trainer, *args, **kwargs)

        monkeypatch.setattr(TaskTrainer, "training_step", counting)


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[StepCounter]:
    yield StepCounter(monkeypatch)


def interrupt_after_first_checkpoint(output: Path, train_file: Path, base: Path) -> None:
    """Ctrl-C right after the first epoch's checkpoint is saved."""
    original = TaskTrainer._save_checkpoint

    def save_then_interrupt(trainer: TaskTrainer, *args: Any, **kwargs: Any) -> None:
        original(trainer, *args, **kwargs)
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TaskTrainer, "_save_checkpoint", save_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            finetune("text-classification", base, output, *ARGUMENTS, train=train_file)
    assert [p.name for p in (output / "checkpoints").iterdir()] == [f"checkpoint-{STEPS_PER_EPOCH}"]
    assert not (output / "model").exists()


def test_rerun_resumes_from_the_last_checkpoint(
    tmp_path: Path,
    train_file: Path,
    trainable_bert_dir: Path,
    uninterrupted: Path,
    steps: StepCounter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = tmp_path / "out"
    interrupt_after_first_checkpoint(output, train_file, trainable_bert_dir)
    steps.steps = 0
    with caplog.at_level("INFO", logger="app.finetuning.training"):
        assert finetune("text-classification", trainable_bert_dir, output, *ARGUMENTS, train=train_file) == 0
    assert f"Resuming from {output / 'checkpoints' / f'checkpoint-{STEPS_PER_EPOCH}'}" in caplog.text
    assert steps.steps == STEPS_PER_EPOCH  # the second epoch only
    resumed, reference = last_trainer_state(output), last_trainer_state(uninterrupted)
    assert resumed["global_step"] == reference["global_step"] == 2 * STEPS_PER_EPOCH
    assert [e["step"] for e in resumed["log_history"]] == [e["step"] for e in reference["log_history"]]
    # Optimizer, scheduler, data order and RNG come back too: the same weights as without the break.
    weights = load_file(output / "model" / "model.safetensors")
    expected = load_file(uninterrupted / "model" / "model.safetensors")
    for name, tensor in expected.items():
        torch.testing.assert_close(weights[name], tensor, rtol=1e-3, atol=1e-4, msg=name)
    assert json.loads((output / "metrics.json").read_text())["train"]["epochs"] == 2.0


def test_resume_never_starts_over(
    tmp_path: Path,
    train_file: Path,
    trainable_bert_dir: Path,
    steps: StepCounter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = tmp_path / "out"
    interrupt_after_first_checkpoint(output, train_file, trainable_bert_dir)
    steps.steps = 0
    arguments = [*ARGUMENTS, "--resume", "never"]
    with caplog.at_level("INFO", logger="app.finetuning.training"):
        assert finetune("text-classification", trainable_bert_dir, output, *arguments, train=train_file) == 0
    assert "Resuming" not in caplog.text
    assert steps.steps == 2 * STEPS_PER_EPOCH
    assert last_trainer_state(output)["global_step"] == 2 * STEPS_PER_EPOCH


def test_resume_never_drops_the_checkpoints_of_an_earlier_run(
    tmp_path: Path, train_file: Path, trainable_bert_dir: Path, uninterrupted: Path
) -> None:
    """A later `--resume auto` must not pick up a checkpoint the restarted run did not write."""
    output = tmp_path / "out"
    shutil.copytree(uninterrupted, output)
    arguments = ["--epochs", "1", "--batch-size", "4", "--learning-rate", "1e-2", "--resume", "never"]
    files = {"train": train_file, "validation": train_file}  # keeps two checkpoints: the best and the last
    assert finetune("text-classification", trainable_bert_dir, output, *arguments, **files) == 0
    assert [p.name for p in (output / "checkpoints").iterdir()] == [f"checkpoint-{STEPS_PER_EPOCH}"]
