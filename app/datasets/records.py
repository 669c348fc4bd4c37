"""Rows of a CSV or JSON-lines file, each numbered as a person looks for it in an editor."""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet",)


class DatasetError(Exception):
    """Data that cannot be read as asked; the message names the file, and the row and field at fault."""


@dataclass(frozen=True)
class Record:
    path: Path
    row: int  # 1-based: the line of a JSON-lines file, the data row of a CSV file (header not counted)
    fields: dict[str, Any]

    def where(self, field: str) -> str:
        return f"{self.path.name} row {self.row}, field '{field}'"

    def get(self, field: str) -> Any:
        if field not in self.fields:
            raise DatasetError(
                f"{self.where(field)}: missing (the row has {', '.join(self.fields) or 'none'})"
            )
        return self.fields[field]

    def text(self, field: str) -> str:
        value = self.get(field)
        if not isinstance(value, str):
            raise DatasetError(f"{self.where(field)}: expected text, got {type(value).__name__}")
        return value


def read_records(path: Path) -> Iterator[Record]:
    """CSV with a header when the name ends in .csv, Parquet (through `datasets`) when it ends in
    .parquet, else one JSON object per line (blank lines skipped)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        yield from _parquet_records(path)
        return
    if path.suffix.lower() in CSV_SUFFIXES:
        with path.open(newline="", encoding="utf-8") as stream:
            for row, fields in enumerate(csv.DictReader(stream), start=1):
                yield Record(path, row, dict(fields))
        return
    with path.open(encoding="utf-8") as stream:
        for row, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{path.name} row {row} is not JSON: {exc}") from exc
            if not isinstance(fields, dict):
                raise DatasetError(f"{path.name} row {row} is not a JSON object")
            yield Record(path, row, fields)


def _parquet_records(path: Path) -> Iterator[Record]:
    from datasets import load_dataset  # a heavy import, only for Parquet

    try:
        table = load_dataset("parquet", data_files=str(path), split="train")
    except Exception as exc:  # datasets raises many kinds for a file it cannot read
        raise DatasetError(f"{path.name} is not a Parquet file datasets can read: {exc}") from exc
    for row, fields in enumerate(table, start=1):
        yield Record(path, row, dict(fields))
