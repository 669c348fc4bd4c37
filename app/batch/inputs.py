"""Rows of batch-scoring input files, streamed: CSV (Azure's layout), JSONL, or plain text.

A row carries its text, or the reason it cannot be scored; reading never stops at a bad row.
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".json")
TEXT_SUFFIXES = (".txt",)
SUPPORTED_SUFFIXES = CSV_SUFFIXES + JSONL_SUFFIXES + TEXT_SUFFIXES
DEFAULT_COLUMN = "input_string"


@dataclass(frozen=True)
class InputRow:
    file: Path
    row: int  # 0-based, counting data rows only: Azure's row_number_per_file
    text: str | None
    error: str | None = None


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


def read_rows(file: Path, column: str = DEFAULT_COLUMN) -> Iterator[InputRow]:
    suffix = file.suffix.lower()
    if suffix in CSV_SUFFIXES:
        yield from _csv_rows(file, column)
    elif suffix in JSONL_SUFFIXES:
        yield from _jsonl_rows(file, column)
    else:
        yield from _text_rows(file)


def count_rows(file: Path) -> int:
    """A cheap estimate for the progress bar: lines, less a CSV header."""
    with file.open("rb") as stream:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    return max(0, lines - (1 if file.suffix.lower() in CSV_SUFFIXES else 0))


def _checked(file: Path, row: int, value: object) -> InputRow:
    if not isinstance(value, str):
        return InputRow(file, row, None, f"not text ({type(value).__name__})")
    if not value.strip():
        return InputRow(file, row, None, "empty")
    return InputRow(file, row, value)


def _csv_rows(file: Path, column: str) -> Iterator[InputRow]:
    with file.open(newline="", encoding="utf-8", errors="replace") as stream:
        reader = csv.DictReader(stream)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise InputFileError(
                f"{file.name} has no column '{column}' (columns: {reader.fieldnames}); use --column"
            )
        for row, record in enumerate(reader):
            yield _checked(file, row, record.get(column))


def _jsonl_rows(file: Path, column: str) -> Iterator[InputRow]:
    with file.open(encoding="utf-8", errors="replace") as stream:
        for row, line in enumerate(stream):
            try:
                record = json.loads(line)
            except ValueError:
                yield InputRow(file, row, None, "not valid JSON")
                continue
            if not isinstance(record, dict) or column not in record:
                yield InputRow(file, row, None, f"no '{column}' field")
                continue
            yield _checked(file, row, record[column])


def _text_rows(file: Path) -> Iterator[InputRow]:
    with file.open(encoding="utf-8", errors="replace") as stream:
        for row, line in enumerate(stream):
            yield _checked(file, row, line.rstrip("\r\n"))
