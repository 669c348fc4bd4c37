"""Progress of a batch job, so that a rerun resumes it without losing or repeating rows.

After each mini-batch its output rows are flushed to disk, then one line is appended here with
the rows done in that file and the size of every output file. A rerun cuts each output file back
to the sizes of the last line (dropping rows of a mini-batch that a crash interrupted) and skips
the rows already done. So a crash loses at most the mini-batch in progress, and no row is written
twice.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEDGER_NAME = "progress.jsonl"


@dataclass
class FileProgress:
    rows_done: int = 0
    completed: bool = False


@dataclass
class Ledger:
    directory: Path
    output_names: list[str]
    files: dict[str, FileProgress] = field(default_factory=dict)
    errors: int = 0

    @classmethod
    def open(cls, directory: Path, output_names: list[str]) -> "Ledger":
        """Read the progress so far and cut the outputs back to the last consistent point."""
        ledger = cls(directory, output_names)
        sizes = dict.fromkeys(output_names, 0)
        path = directory / LEDGER_NAME
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:  # a line cut short by a crash
                    continue
                ledger.files[entry["file"]] = FileProgress(entry["rows_done"], entry["completed"])
                ledger.errors = entry["errors"]
                sizes.update(entry["sizes"])
        for name, size in sizes.items():
            output = directory / name
            if output.exists():
                with output.open("r+b") as stream:
                    stream.truncate(size)
        return ledger

    def progress(self, file: Path) -> FileProgress:
        return self.files.get(str(file), FileProgress())

    def record(self, file: Path, rows_done: int, completed: bool) -> None:
        """Call after the outputs were flushed: their sizes now are a consistent point."""
        self.files[str(file)] = FileProgress(rows_done, completed)
        sizes = {name: _size(self.directory / name) for name in self.output_names}
        entry: dict[str, Any] = {
            "file": str(file),
            "rows_done": rows_done,
            "completed": completed,
            "errors": self.errors,
            "sizes": sizes,
        }
        with (self.directory / LEDGER_NAME).open("a") as stream:
            stream.write(json.dumps(entry) + "\n")
            stream.flush()
            os.fsync(stream.fileno())


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
