"""Batch scoring for every task: bad rows, the error threshold, resumption, files that cannot hold
the task's columns, and Azure's entry script."""

import csv
import importlib.util
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.batch.inputs import expand_inputs
from app.batch.job import BatchOptions, ErrorThresholdExceededError, run_batch_job
from app.batch.ledger import Ledger
from app.cli import main
from app.config import TaskName
from tests.batch.test_batch_tasks import (
    Record,
    expected_predictions,
    long_text,
    read_predictions,
    served_task,
    task_files,
    write_inputs,
)
from tests.conftest import interrupt_at_call
from tests.paths import REPO_ROOT

__all__ = ["served_task"]  # the fixture, shared with test_batch_tasks
ROOT = REPO_ROOT
LONG_QUESTION = long_text(random.Random(5), 300)

# Per task: bad rows (written to bad.jsonl, or a CSV when named so) and the reason each gets.
BAD_ROWS: dict[TaskName, dict[str, list[tuple[Any, str]]]] = {
    "text-classification": {
        "bad.jsonl": [
            ({"text": 5}, "'text': not text (int)"),
            ({"text": "   "}, "'text': empty"),
            ({"label": "the king"}, "no 'text' or 'input_string' field"),
            ({"text": "the king", "text_pair": ["a"]}, "'text_pair': not text (list)"),
            ("{oops", "not valid JSON"),
            ([1, 2], "no 'text' or 'input_string' field"),
        ],
        "lines.txt": [("", "'text': empty")],
    },
    "token-classification": {
        "bad.jsonl": [
            ({"tokens": []}, "no tokens"),
            ({"tokens": ["the", ""]}, "tokens must be non-empty strings"),
            ({"tokens": ["the", 3]}, "tokens must be non-empty strings"),
            ({"input_string": 3}, "not text (int)"),
            ({"text": " \t "}, "empty"),
            ({"words": ["the"]}, "no 'tokens' or 'input_string' or 'text' field"),
        ],
        "bad.csv": [
            ({"tokens": "the king"}, "'tokens': not a JSON list of tokens"),
            ({"tokens": '{"a": 1}'}, "'tokens': not a JSON list of tokens"),
        ],
    },
    "question-answering": {
        "bad.jsonl": [
            ({"question": "", "context": "the king"}, "'question': empty"),
            ({"question": "who ?", "context": "  "}, "'context': empty"),
            ({"question": "who ?"}, "no 'context' field"),
            ({"question": "who ?", "context": ["the king"]}, "'context': not text (list)"),
            ({"question": LONG_QUESTION, "context": "the king"}, "the question is"),
        ],
    },
    "next-sentence-prediction": {
        "bad.jsonl": [
            ({"sentence1": "the king"}, "no 'sentence2' field"),
            ({"sentence1": "the king", "sentence2": ""}, "'sentence2': empty"),
            ({"sentence1": None, "sentence2": "a"}, "'sentence1': not text (NoneType)"),
        ],
    },
}
TASKS = list(BAD_ROWS)


def write_bad_rows(folder: Path, task: TaskName) -> tuple[list[tuple[str, int, str]], int]:
    """Good rows between bad ones; returns (file, row, reason) per bad row, and how many rows in all."""
    good = task_files(task, seed=7)
    folder.mkdir(parents=True)
    expected, total = [], sum(len(records) for records in good.values())
    for name, bad in BAD_ROWS[task].items():
        rows: list[Any] = []
        # Good rows with the bad ones' columns: in a CSV, the first default column present wins.
        source = good.get("c.csv", good["a.csv"]) if name.endswith(".csv") else good["b.jsonl"]
        for record, reason in bad:
            rows += [source[len(rows) % len(source)], record]
            expected.append((name, len(rows) - 1, reason))
        total += len(rows)
        if name.endswith(".jsonl"):
            lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
            (folder / name).write_text("".join(line + "\n" for line in lines))
        elif name.endswith(".txt"):
            lines = [r if isinstance(r, str) else r.get("text") or r["input_string"] for r in rows]
            (folder / name).write_text("".join(line + "\n" for line in lines))
        else:
            write_inputs(folder, {name: rows})
    write_inputs(folder, good)
    return expected, total


def read_errors(directory: Path) -> list[tuple[str, int, str]]:
    with (directory / "errors.csv").open(newline="") as stream:
        return [
            (e["batch_input_file_name"], int(e["row_number_per_file"]), e["reason"])
            for e in csv.DictReader(stream)
        ]


@pytest.mark.parametrize("task", TASKS)
def test_bad_rows_go_to_errors_csv_and_the_rest_are_scored(
    task: TaskName, tmp_path: Path, served_task: Any
) -> None:
    expected, total = write_bad_rows(tmp_path / "in", task)
    files = expand_inputs([tmp_path / "in"])
    summary = run_batch_job(served_task(task), files, BatchOptions(output_dir=tmp_path / "out"))
    errors = read_errors(tmp_path / "out")
    assert [(f, r) for f, r, _ in errors] == sorted((f, r) for f, r, _ in expected)
    for (_, _, reason), (_, _, wanted) in zip(errors, sorted(expected), strict=True):
        assert reason.startswith(wanted), (reason, wanted)
    scored = {(name, int(row)) for row, _, name in read_predictions(tmp_path / "out")}
    assert not scored & {(f, r) for f, r, _ in expected}, "a bad row has no prediction"
    assert summary.errors == len(expected) and summary.rows == len(scored)
    assert len(scored) + len(expected) == total, "every row is a prediction or an error"


@pytest.mark.parametrize("task", TASKS)
def test_the_error_threshold_stops_the_job(task: TaskName, tmp_path: Path, served_task: Any) -> None:
    bad = len(write_bad_rows(tmp_path / "in", task)[0])
    files = expand_inputs([tmp_path / "in"])
    with pytest.raises(ErrorThresholdExceededError, match=f"over --error-threshold {bad - 1}"):
        run_batch_job(served_task(task), files, BatchOptions(tmp_path / "stopped", error_threshold=bad - 1))
    assert (
        run_batch_job(served_task(task), files, BatchOptions(tmp_path / "ok", error_threshold=bad)).errors
        == bad
    )


def test_the_cli_exits_1_past_the_error_threshold(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    write_bad_rows(tmp_path / "in", "question-answering")
    args = ["batch", str(tmp_path / "in"), "--model", str(tiny_task_dir("question-answering"))]
    assert main([*args, "--output", str(tmp_path / "a"), "--error-threshold", "0"]) == 1
    assert "over --error-threshold 0" in capsys.readouterr().err
    assert main([*args, "--output", str(tmp_path / "b"), "--error-threshold", "5"]) == 0


@pytest.mark.parametrize("crash_at", ["model", "ledger"])
def test_a_crashed_question_answering_job_resumes_without_duplicates_or_losses(
    tmp_path: Path, served_task: Any, monkeypatch: pytest.MonkeyPatch, crash_at: str
) -> None:
    task = served_task("question-answering")
    write_bad_rows(tmp_path / "in", "question-answering")
    files = expand_inputs([tmp_path / "in"])
    reference = BatchOptions(output_dir=tmp_path / "reference", mini_batch_rows=3)
    run_batch_job(task, files, reference)

    options = BatchOptions(output_dir=tmp_path / "crashed", mini_batch_rows=3)
    if crash_at == "model":
        interrupt_at_call(monkeypatch, task, "forward", 4)
    else:
        interrupt_at_call(monkeypatch, Ledger, "record", 4)
    with pytest.raises(KeyboardInterrupt):
        run_batch_job(task, files, options)
    monkeypatch.undo()
    written_before_rerun = len(read_predictions(options.output_dir))
    assert 0 < written_before_rerun < len(read_predictions(reference.output_dir))

    run_batch_job(task, files, options)
    assert sorted(read_predictions(options.output_dir)) == sorted(read_predictions(reference.output_dir))
    assert sorted(read_errors(options.output_dir)) == sorted(read_errors(reference.output_dir))


@pytest.mark.parametrize("task", ["question-answering", "next-sentence-prediction"])
def test_a_plain_text_file_for_a_pair_task_exits_2_with_one_line(
    task: TaskName, tmp_path: Path, tiny_task_dir: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lines.txt").write_text("the king\nthe queen\n")
    args = ["batch", str(tmp_path / "lines.txt"), "--output", str(tmp_path / "out")]
    assert main([*args, "--model", str(tiny_task_dir(task))]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "plain-text" in errors[0] and "use CSV or JSONL" in errors[0]
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_a_missing_column_or_a_wrong_column_count_exits_2(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    write_inputs(tmp_path / "in", {"q.csv": [{"question": "who ?"}]})
    model = ["--model", str(tiny_task_dir("question-answering"))]
    assert main(["batch", str(tmp_path / "in"), "--output", str(tmp_path / "o1"), *model]) == 2
    assert "q.csv has no column 'context'" in capsys.readouterr().err
    assert (
        main(["batch", str(tmp_path / "in"), "--output", str(tmp_path / "o2"), *model, "--column", "q"]) == 2
    )
    assert "question-answering reads 2 column(s)" in capsys.readouterr().err


def test_azure_entry_script_scores_question_answering_with_batch_columns(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path], served_task: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = task_files("question-answering", seed=8)
    renamed: dict[str, list[Record]] = {
        name: [{"q": r["question"], "passage": r["context"]} for r in records]
        for name, records in files.items()
    }
    renamed["a.csv"] += [{"q": "", "passage": "the king"}]
    write_inputs(tmp_path / "in", {"a.csv": renamed["a.csv"], "b.csv": renamed["b.jsonl"]})
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tiny_task_dir("question-answering")))
    monkeypatch.setenv("BATCH_COLUMNS", "q, passage")
    monkeypatch.delenv("MODEL_ID", raising=False)
    monkeypatch.delenv("TASK", raising=False)
    spec = importlib.util.spec_from_file_location(
        "batch_score", ROOT / "deploy" / "azureml" / "batch_score.py"
    )
    assert spec is not None and spec.loader is not None
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    entry.init()
    result = entry.run([str(tmp_path / "in" / "a.csv"), str(tmp_path / "in" / "b.csv")])
    rows = result.values.tolist() if hasattr(result, "values") else result
    expected = expected_predictions(
        served_task("question-answering"), {"a.csv": files["a.csv"], "b.csv": files["b.jsonl"]}
    )
    assert (
        [[str(row), prediction, name] for row, prediction, name in rows]
        == [
            *expected[: len(files["a.csv"])],
            [str(len(files["a.csv"])), "", "a.csv"],  # the bad row keeps its place
            *expected[len(files["a.csv"]) :],
        ]
    )
