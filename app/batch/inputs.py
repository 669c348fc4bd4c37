"""Records of batch-scoring input files, streamed: CSV (Azure's layout), JSONL, or plain text.

A record is a row's fields by name (a plain-text line is one field), or the reason the row cannot
be read; reading never stops at a bad row. What the fields mean is each task's business
(`app.batch.task_rows`).
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".json")
TEXT_SUFFIXES = (".txt",)
SUPPORTED_SUFFIXES = CSV_SUFFIXES + JSONL_SUFFIXES + TEXT_SUFFIXES


@dataclass(frozen=True)
class InputRecord:
    file: Path
    row: int  # 0-based, counting data rows only: Azure's row_number_per_file
    fields: dict[str, Any]
    error: str | None = None  # set when the row could not be read at all


class InputFileError(Exception):
    """A file that cannot be read at all (missing column, unsupported kind)."""


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given, and the supported files under each folder, sorted; no file twice."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
        elif path.is_file():
            files.append(path)
        else:
            raise InputFileError(f"{path} does not exist")
    return list(dict.fromkeys(file.resolve() for file in files))


def is_csv(file: Path) -> bool:
    return file.suffix.lower() in CSV_SUFFIXES


def is_plain_text(file: Path) -> bool:
    """Anything neither CSV nor JSONL is read as one text per line."""
    return file.suffix.lower() not in CSV_SUFFIXES + JSONL_SUFFIXES


def csv_columns(file: Path) -> list[str]:
    with file.open(newline="", encoding="utf-8", errors="replace") as stream:
        return list(csv.DictReader(stream).fieldnames or [])


def read_records(file: Path, line_field: str) -> Iterator[InputRecord]:
    """The file's rows in order; a plain-text line becomes the one field `line_field`."""
    if is_csv(file):
        yield from _csv_records(file)
    elif is_plain_text(file):
        yield from _text_records(file, line_field)
    else:
        yield from _jsonl_records(file)


def count_rows(file: Path) -> int:
    """A cheap estimate for the progress bar: lines, less a CSV header."""
    with file.open("rb") as stream:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    return max(0, lines - (1 if is_csv(file) else 0))


def _csv_records(file: Path) -> Iterator[InputRecord]:
    with file.open(newline="", encoding="utf-8", errors="replace") as stream:
        for row, record in enumerate(csv.DictReader(stream)):
            yield InputRecord(file, row, record)


def _jsonl_records(file: Path) -> Iterator[InputRecord]:
    with file.open(encoding="utf-8", errors="replace") as stream:
        for row, line in enumerate(stream):
            try:
                record = json.loads(line)
            except ValueError:
                yield InputRecord(file, row, {}, "not valid JSON")
                continue
            # Another JSON value is a row without the fields a task reads.
            yield InputRecord(file, row, record if isinstance(record, dict) else {})


def _text_records(file: Path, line_field: str) -> Iterator[InputRecord]:
    with file.open(encoding="utf-8", errors="replace") as stream:
        for row, line in enumerate(stream):
            yield InputRecord(file, row, {line_field: line.rstrip("\r\n")})
