"""Batch scoring of files: `python -m app batch INPUT... --output DIR`.

Rows stream from the inputs in mini-batches, each row made into the served task's example
(`app.batch.task_rows`); each mini-batch is encoded at once, batched by token budget with the
server's policy (`select_batch`) and predicted with the server's task code; its rows are
appended to DIR and recorded in the ledger, so memory stays flat and a rerun resumes. Output is
Azure's predictions.csv (no header: row_number_per_file, prediction, batch_input_file_name) or,
with `--format jsonl`, predictions.jsonl with each row's inputs, candidates and scores; for an
embedding model, embeddings.npy and embedding_rows.csv (`app.batch.embedding_outputs`).
"""

import contextlib
import csv
import itertools
import logging
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tqdm import tqdm

from app.batch.embedding_outputs import EmbeddingWriter
from app.batch.inputs import count_rows
from app.batch.ledger import Ledger
from app.batch.outputs import OutputFormat, PredictionsWriter, ScoredLine, predictions_name
from app.batch.task_rows import InputRow, RowLayout, check_file, layout_for, read_rows
from app.engine.offline import predict_all
from app.errors import InvalidInputError
from app.tasks.base import Task
from app.tasks.options import task_options

logger = logging.getLogger(__name__)

ERRORS_NAME = "errors.csv"
# "Input 3: the question is ..." -> "the question is ...": the index is the mini-batch's, not the file's.
INPUT_INDEX = re.compile(r"^Input \d+:? ")
T = TypeVar("T")


class ErrorThresholdExceededError(Exception):
    """More bad rows than --error-threshold allows."""


@dataclass(frozen=True)
class BatchOptions:
    output_dir: Path
    columns: Sequence[str] | None = None  # --column, in the task's order; None: the task's defaults
    output_format: OutputFormat = "csv"
    top_k: int = 1
    error_threshold: int = -1  # Azure's meaning: -1 ignores every error; else the job stops past N
    mini_batch_rows: int = 512
    max_batch_tokens: int = 4096
    max_batch_size: int = 32

    def output_names(self, task: str) -> tuple[str, ...]:
        """What the job writes, besides errors.csv."""
        return (
            EmbeddingWriter.names if task == "feature-extraction" else (predictions_name(self.output_format),)
        )


class Writer(Protocol):
    def write(self, lines: list[ScoredLine]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def open_writer(task: Task[Any], options: BatchOptions) -> Writer:
    if task.name == "feature-extraction":
        return EmbeddingWriter(options.output_dir)
    return PredictionsWriter(options.output_dir, task.name, options.output_format)


@dataclass
class ScoredRow:
    source: InputRow
    answer: Any = None
    error: str | None = None


@dataclass
class JobSummary:
    files: int
    files_skipped: int  # completed by an earlier run
    rows: int  # scored in this run
    errors: int  # bad rows met in this run
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def score_rows(task: Task[Any], rows: list[InputRow], options: BatchOptions) -> list[ScoredRow]:
    """Predict every scorable row; the rest carry their reason. Order is kept."""
    scored = [ScoredRow(row, error=row.error) for row in rows]
    candidates = [item for item in scored if item.error is None]
    examples = [item.source.example for item in candidates]
    answers = predict_all(
        task,
        examples,
        task_options(task.name, options.top_k),
        options.max_batch_tokens,
        options.max_batch_size,
    )
    for item, answer in zip(candidates, answers, strict=True):
        if isinstance(answer, InvalidInputError):
            item.error = "no mask" if "no mask" in answer.message else INPUT_INDEX.sub("", answer.message)
        else:
            item.answer = answer
    return scored


def run_batch_job(task: Task[Any], files: list[Path], options: BatchOptions) -> JobSummary:
    """Score `files` for `task` into options.output_dir, resuming what an earlier run left."""
    layout = layout_for(task.name, options.columns)
    for file in files:
        check_file(layout, file)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.open(options.output_dir, [*options.output_names(task.name), ERRORS_NAME])
    writer = open_writer(task, options)  # after the ledger has cut the outputs back
    todo = [file for file in files if not ledger.progress(file).completed]
    total = sum(max(0, count_rows(file) - ledger.progress(file).rows_done) for file in todo)
    started, scored_rows, bad_rows = time.perf_counter(), 0, 0
    with (
        contextlib.closing(writer),
        (options.output_dir / ERRORS_NAME).open("a", newline="", encoding="utf-8") as errors,
        tqdm(total=total, unit="rows", desc="scoring", dynamic_ncols=True) as progress,
    ):
        if errors.tell() == 0:
            csv.writer(errors).writerow(["batch_input_file_name", "row_number_per_file", "reason"])
        # Mini-batches span file boundaries: many small files (Azure's layout) still make full batches.
        for chunk in chunks(_remaining_rows(todo, ledger, layout), options.mini_batch_rows):
            results = score_rows(task, chunk, options)
            bad = [item for item in results if item.error is not None]
            writer.write(
                [
                    (r.source.file.name, r.source.row, r.source.inputs, r.answer)
                    for r in results
                    if r.error is None
                ]
            )
            csv.writer(errors).writerows([[r.source.file.name, r.source.row, r.error] for r in bad])
            writer.flush()
            errors.flush()
            scored_rows += len(chunk) - len(bad)
            bad_rows += len(bad)
            ledger.errors += len(bad)
            _record_chunk(ledger, chunk, todo)
            progress.update(len(chunk))
            if 0 <= options.error_threshold < ledger.errors:
                raise ErrorThresholdExceededError(
                    f"{ledger.errors} bad rows, over --error-threshold {options.error_threshold}; "
                    f"see {options.output_dir / ERRORS_NAME}"
                )
        for file in todo:  # files with no rows left, or none at all
            if not ledger.progress(file).completed:
                ledger.record(file, ledger.progress(file).rows_done, completed=True)
    return JobSummary(
        len(files), len(files) - len(todo), scored_rows, bad_rows, time.perf_counter() - started
    )


def _remaining_rows(files: list[Path], ledger: Ledger, layout: RowLayout) -> Iterator[InputRow]:
    for file in files:
        yield from itertools.islice(read_rows(file, layout), ledger.progress(file).rows_done, None)


def _record_chunk(ledger: Ledger, chunk: list[InputRow], files: list[Path]) -> None:
    """Rows are read file after file: every file before the chunk's last one is finished."""
    last_file = chunk[-1].file
    for file in dict.fromkeys(row.file for row in chunk):
        rows_done = max(row.row for row in chunk if row.file == file) + 1
        ledger.record(file, rows_done, completed=file != last_file)


def chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
