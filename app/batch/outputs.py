"""What batch scoring writes per scored row: Azure's predictions.csv row, or a predictions.jsonl record.

predictions.csv holds, per row, the string /score answers under "0" (`azure_answer`); a jsonl
record adds the row's inputs and the task's scored candidates.
"""

import csv
import json
from pathlib import Path
from typing import IO, Any, Literal

from app.config import TaskName
from app.tasks.azure_answers import azure_answer, scored_candidates

# (file name, row number, inputs by field name, the task's answer)
ScoredLine = tuple[str, int, dict[str, Any], Any]
OutputFormat = Literal["csv", "jsonl"]


class PredictionsWriter:
    """Appends each scored row to predictions.csv (or .jsonl) in `directory`."""

    def __init__(self, directory: Path, task: TaskName, output_format: OutputFormat) -> None:
        self.task = task
        self.write_lines = write_csv if output_format == "csv" else write_jsonl
        self.stream = (directory / predictions_name(output_format)).open("a", newline="", encoding="utf-8")

    def write(self, lines: list[ScoredLine]) -> None:
        self.write_lines(self.stream, self.task, lines)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()


def predictions_name(output_format: OutputFormat) -> str:
    return "predictions.csv" if output_format == "csv" else "predictions.jsonl"


def write_csv(stream: IO[str], task: TaskName, lines: list[ScoredLine]) -> None:
    """Azure's layout, no header: row_number_per_file, prediction, batch_input_file_name."""
    csv.writer(stream).writerows([row, azure_answer(task, answer), file] for file, row, _, answer in lines)


def write_jsonl(stream: IO[str], task: TaskName, lines: list[ScoredLine]) -> None:
    key = CANDIDATE_KEYS[task]
    for file, row, inputs, answer in lines:
        record: dict[str, Any] = {
            "batch_input_file_name": file,
            "row_number_per_file": row,
            **inputs,
            "prediction": azure_answer(task, answer),
            key: scored_candidates(task, answer),
        }
        stream.write(json.dumps(record) + "\n")


# Per task: the jsonl key of the scored candidates.
CANDIDATE_KEYS: dict[TaskName, str] = {
    "fill-mask": "masks",
    "text-classification": "labels",
    "next-sentence-prediction": "labels",
    "token-classification": "tags",
    "question-answering": "answers",
}
