"""Batch scoring: the pipeline's answers in Azure's layout, bad rows, resumption, Azure's entry script."""

import csv
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from app.batch.inputs import InputFileError, expand_inputs
from app.batch.job import BatchOptions, run_batch_job
from app.batch.ledger import Ledger
from app.cli import main
from app.tasks.checkpoint import load_fill_mask_model
from app.tasks.fill_mask import FillMaskTask
from app.tasks.mask_spelling import MASK_SPELLING
from bench.peak_memory import peak_rss_mb
from tests.conftest import interrupt_at_call
from tests.paths import REPO_ROOT
from tests.tasks.test_model import INPUTS, pipeline_candidates

ROOT = REPO_ROOT
BAD_ROWS = ["no mask in this one", "", "   "]


def write_azure_csv(path: Path, texts: list[str], column: str = "input_string") -> None:
    """Azure's batch sample layout: quoted, an unnamed index column, then the text column."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, quoting=csv.QUOTE_ALL)
        writer.writerow(["", column])
        writer.writerows([index, text] for index, text in enumerate(texts))


@pytest.fixture
def input_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    write_azure_csv(folder / "part-0.csv", INPUTS[:10])
    write_azure_csv(folder / "part-1.csv", [*INPUTS[10:15], *BAD_ROWS])
    (folder / "more.jsonl").write_text(
        "\n".join(
            [json.dumps({"input_string": text}) for text in INPUTS[15:20]] + ['{"input_string": 7}', "{oops"]
        )
        + "\n"
    )
    (folder / "lines.txt").write_text("\n".join([*INPUTS[20:25], "no mask"]) + "\n")
    (folder / "ignored.bin").write_bytes(b"\x00")
    return folder


@pytest.fixture(scope="module")
def tiny_model(tiny_bert_dir: Path) -> FillMaskTask:
    return load_fill_mask_model(str(tiny_bert_dir))


def read_predictions(directory: Path) -> list[list[str]]:
    with (directory / "predictions.csv").open(newline="") as stream:
        return list(csv.reader(stream))


def expected_top1(fill_mask_pipeline: Any, text: str) -> str:
    return ",".join(mask[0]["token_str"] for mask in pipeline_candidates(fill_mask_pipeline, text))


def test_predictions_csv_is_azures_layout_with_the_pipelines_top1(
    input_folder: Path, tmp_path: Path, tiny_bert_dir: Path, fill_mask_pipeline: Any
) -> None:
    out = tmp_path / "out"
    assert main(["batch", str(input_folder), "--output", str(out), "--model", str(tiny_bert_dir)]) == 0
    rows = read_predictions(out)
    texts = {
        "part-0.csv": INPUTS[:10],
        "part-1.csv": INPUTS[10:15] + BAD_ROWS,
        "more.jsonl": INPUTS[15:20],
        "lines.txt": INPUTS[20:25],
    }
    assert len(rows) == 25 and all(len(row) == 3 for row in rows), "no header, three columns"
    for row_number, prediction, file_name in rows:
        assert prediction == expected_top1(fill_mask_pipeline, texts[file_name][int(row_number)])
    assert sorted({row[2] for row in rows}) == ["lines.txt", "more.jsonl", "part-0.csv", "part-1.csv"]


def test_bad_rows_go_to_errors_csv_with_file_row_and_reason(
    input_folder: Path, tmp_path: Path, tiny_bert_dir: Path
) -> None:
    out = tmp_path / "out"
    main(["batch", str(input_folder), "--output", str(out), "--model", str(tiny_bert_dir)])
    with (out / "errors.csv").open(newline="") as stream:
        errors = list(csv.DictReader(stream))
    found = {(e["batch_input_file_name"], e["row_number_per_file"], e["reason"]) for e in errors}
    assert found == {
        ("part-1.csv", "5", "no mask"),
        ("part-1.csv", "6", "empty"),
        ("part-1.csv", "7", "empty"),
        ("more.jsonl", "5", "not text (int)"),
        ("more.jsonl", "6", "not valid JSON"),
        ("lines.txt", "5", "no mask"),
    }


def test_error_threshold_stops_the_job_with_a_non_zero_status(
    input_folder: Path, tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = ["--model", str(tiny_bert_dir)]
    assert (
        main(["batch", str(input_folder), "--output", str(tmp_path / "a"), *model, "--error-threshold", "2"])
        == 1
    )
    assert "over --error-threshold 2" in capsys.readouterr().err
    assert (
        main(["batch", str(input_folder), "--output", str(tmp_path / "b"), *model, "--error-threshold", "6"])
        == 0
    )
    assert (
        main(["batch", str(input_folder), "--output", str(tmp_path / "c"), *model, "--error-threshold", "-1"])
        == 0
    )


def test_jsonl_output_has_the_pipelines_candidates_and_scores(
    tmp_path: Path, tiny_bert_dir: Path, fill_mask_pipeline: Any
) -> None:
    (tmp_path / "in.txt").write_text("\n".join(INPUTS[:12]) + "\n")
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "in.txt"), "--output", str(out), "--model", str(tiny_bert_dir)]
    assert main([*args, "--format", "jsonl", "--top-k", "3"]) == 0
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["row_number_per_file"] for r in records] == list(range(12))
    for record in records:
        expected = pipeline_candidates(fill_mask_pipeline, record["input_string"])
        assert [[c["token"] for c in mask] for mask in record["masks"]] == [
            [c["token"] for c in mask[:3]] for mask in expected
        ]
        for ours, theirs in zip(record["masks"], expected, strict=True):
            assert [c["score"] for c in ours] == pytest.approx([c["score"] for c in theirs[:3]], abs=1e-4)


def test_other_column_names_and_a_missing_column(tmp_path: Path, tiny_bert_dir: Path) -> None:
    write_azure_csv(tmp_path / "t.csv", INPUTS[:3], column="sentence")
    write_azure_csv(tmp_path / "text.csv", INPUTS[:3], column="text")
    model = ["--model", str(tiny_bert_dir)]
    t_csv = str(tmp_path / "t.csv")
    assert main(["batch", t_csv, "--output", str(tmp_path / "o1"), *model, "--column", "sentence"]) == 0
    assert len(read_predictions(tmp_path / "o1")) == 3
    assert main(["batch", t_csv, "--output", str(tmp_path / "o2"), *model]) == 2
    # `text` is fill-mask's other default name, as on /score
    assert main(["batch", str(tmp_path / "text.csv"), "--output", str(tmp_path / "o3"), *model]) == 0
    assert [row[:2] for row in read_predictions(tmp_path / "o3")] == [
        row[:2] for row in read_predictions(tmp_path / "o1")
    ]
    with pytest.raises(InputFileError, match="does not exist"):
        expand_inputs([tmp_path / "missing.csv"])


def test_a_rerun_skips_completed_files_and_adds_nothing(
    input_folder: Path, tmp_path: Path, tiny_bert_dir: Path
) -> None:
    args = ["batch", str(input_folder), "--output", str(tmp_path / "out"), "--model", str(tiny_bert_dir)]
    main(args)
    first = (tmp_path / "out" / "predictions.csv").read_bytes()
    assert main(args) == 0
    assert (tmp_path / "out" / "predictions.csv").read_bytes() == first


@pytest.mark.parametrize("crash_at", ["model", "ledger"])
def test_a_crash_loses_at_most_the_mini_batch_in_progress_and_a_rerun_duplicates_nothing(
    input_folder: Path,
    tmp_path: Path,
    tiny_model: FillMaskTask,
    monkeypatch: pytest.MonkeyPatch,
    crash_at: str,
) -> None:
    files = expand_inputs([input_folder])
    reference = BatchOptions(output_dir=tmp_path / "reference", mini_batch_rows=3)
    run_batch_job(tiny_model, files, reference)

    options = BatchOptions(output_dir=tmp_path / "crashed", mini_batch_rows=3)
    # "ledger": after the outputs of the fourth mini-batch were written, before they were recorded
    if crash_at == "model":
        interrupt_at_call(monkeypatch, tiny_model, "predict_encoded", 4)
    else:
        interrupt_at_call(monkeypatch, Ledger, "record", 4)
    with pytest.raises(KeyboardInterrupt):
        run_batch_job(tiny_model, files, options)
    monkeypatch.undo()
    written_before_rerun = len(read_predictions(options.output_dir))
    assert 0 < written_before_rerun < 25

    run_batch_job(tiny_model, files, options)
    assert sorted(read_predictions(options.output_dir)) == sorted(read_predictions(reference.output_dir))
    errors = (options.output_dir / "errors.csv").read_text().splitlines()
    assert sorted(errors) == sorted((reference.output_dir / "errors.csv").read_text().splitlines())


def test_azure_entry_script_is_called_as_azure_calls_it(
    input_folder: Path, tiny_bert_dir: Path, fill_mask_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tiny_bert_dir))
    monkeypatch.delenv("MODEL_ID", raising=False)
    spec = importlib.util.spec_from_file_location(
        "batch_score", ROOT / "deploy" / "azureml" / "batch_score.py"
    )
    assert spec is not None and spec.loader is not None
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    entry.init()
    csv_files = sorted(str(path) for path in input_folder.glob("*.csv"))
    result = entry.run(csv_files)
    rows = result.values.tolist() if hasattr(result, "values") else result
    assert len(rows) == 10 + 8, "one result row per input row"
    by_file = {"part-0.csv": INPUTS[:10], "part-1.csv": INPUTS[10:15] + BAD_ROWS}
    for row_number, prediction, file_name in rows:
        text = by_file[file_name][row_number]
        assert prediction == (expected_top1(fill_mask_pipeline, text) if MASK_SPELLING.search(text) else "")


def test_memory_stays_flat_as_the_input_grows(tmp_path: Path, tiny_bert_dir: Path) -> None:
    def batch_peak_rss_mb(rows: int) -> float:
        source = tmp_path / f"rows-{rows}.txt"
        source.write_text("".join(f"{INPUTS[i % len(INPUTS)]}\n" for i in range(rows)))
        return peak_rss_mb(
            ["batch", str(source), "--output", str(tmp_path / f"out-{rows}"), "--model", str(tiny_bert_dir)]
        )

    small, large = batch_peak_rss_mb(1_000), batch_peak_rss_mb(20_000)
    assert large - small < 30, f"peak RSS grew from {small:.0f} MB to {large:.0f} MB"
