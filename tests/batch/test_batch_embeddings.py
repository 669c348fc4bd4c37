"""Batch embedding of a corpus on the real all-MiniLM-L6-v2: `embeddings.npy` rows equal
SentenceTransformer.encode, `embedding_rows.csv` names each row's input, bad rows go to errors.csv,
and a job cut short anywhere resumes to the same files."""

import csv
from pathlib import Path

import numpy as np
import pytest

from app.batch.embedding_outputs import EmbeddingWriter
from app.batch.job import BatchOptions, run_batch_job
from app.batch.ledger import Ledger
from app.tasks.checkpoint import load_served_model
from app.tasks.feature_extraction import FeatureExtractionTask
from tests.batch.test_batch import write_azure_csv
from tests.conftest import interrupt_at_call
from tests.minilm import minilm_folder, varied_texts

MINILM = minilm_folder()
TEXTS = [text for text in varied_texts(60) if text.strip()]


@pytest.fixture(scope="module")
def minilm() -> FeatureExtractionTask:
    task = load_served_model(str(MINILM), device="cpu", auto_truncate=True).tasks["feature-extraction"]
    assert isinstance(task, FeatureExtractionTask)
    return task


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    vectors: np.ndarray = SentenceTransformer(str(MINILM), device="cpu").encode(TEXTS, convert_to_numpy=True)
    return vectors


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    first, second = tmp_path / "part-0.csv", tmp_path / "part-1.csv"
    write_azure_csv(first, TEXTS[:30])
    write_azure_csv(second, [*TEXTS[30:], "  "])  # a blank row: errors.csv
    return [first, second]


def read_rows(directory: Path) -> list[tuple[str, int]]:
    with (directory / "embedding_rows.csv").open() as stream:
        return [(file, int(row)) for row, file in csv.reader(stream)]


def test_the_vectors_equal_the_library_row_for_row(
    minilm: FeatureExtractionTask, reference: np.ndarray, files: list[Path], tmp_path: Path
) -> None:
    summary = run_batch_job(minilm, files, BatchOptions(output_dir=tmp_path / "out", mini_batch_rows=16))
    vectors = np.load(tmp_path / "out" / "embeddings.npy", mmap_mode="r")
    rows = read_rows(tmp_path / "out")
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384) == (len(rows), 384)
    assert rows == [("part-0.csv", row) for row in range(30)] + [
        ("part-1.csv", row) for row in range(len(TEXTS) - 30)
    ]
    assert np.abs(vectors - reference).max() <= 1e-5
    assert (summary.rows, summary.errors) == (len(TEXTS), 1)
    errors = (tmp_path / "out" / "errors.csv").read_text().splitlines()
    assert errors[1:] == [f"part-1.csv,{len(TEXTS) - 30},empty"]


@pytest.mark.parametrize("crash_at", ["model", "ledger"])
def test_a_job_cut_short_resumes_to_the_same_files(
    minilm: FeatureExtractionTask,
    files: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    crash_at: str,
) -> None:
    whole = BatchOptions(output_dir=tmp_path / "whole", mini_batch_rows=8)
    run_batch_job(minilm, files, whole)
    options = BatchOptions(output_dir=tmp_path / "crashed", mini_batch_rows=8)
    if crash_at == "model":
        interrupt_at_call(monkeypatch, minilm, "forward", 3)
    else:  # the fourth mini-batch's rows on disk, not yet in the ledger: they must not count twice
        interrupt_at_call(monkeypatch, Ledger, "record", 4)
    with pytest.raises(KeyboardInterrupt):
        run_batch_job(minilm, files, options)
    monkeypatch.undo()
    partial = np.load(options.output_dir / "embeddings.npy")
    assert 0 < len(partial) < len(TEXTS)  # a valid array after a crash, holding what was done
    run_batch_job(minilm, files, options)
    resumed, expected = (
        np.load(options.output_dir / "embeddings.npy"),
        np.load(whole.output_dir / "embeddings.npy"),
    )
    assert read_rows(options.output_dir) == read_rows(whole.output_dir)
    np.testing.assert_array_equal(resumed, expected)


def test_the_header_always_counts_the_rows_on_disk(tmp_path: Path) -> None:
    from app.tasks.feature_extraction import Embedding

    writer = EmbeddingWriter(tmp_path)
    writer.write([("f.csv", row, {}, Embedding([float(row), 1.0, 2.0])) for row in range(3)])
    writer.flush()
    assert np.load(tmp_path / "embeddings.npy").tolist() == [
        [0.0, 1.0, 2.0],
        [1.0, 1.0, 2.0],
        [2.0, 1.0, 2.0],
    ]
    writer.close()
    again = EmbeddingWriter(tmp_path)  # a resumed job appends to the same array
    again.write([("f.csv", 3, {}, Embedding([3.0, 1.0, 2.0]))])
    again.close()
    assert np.load(tmp_path / "embeddings.npy").shape == (4, 3)
