"""What a row of an input file means to each task: the columns it reads and the example it makes.

Each task reads its own columns (`--column`, repeated, in the task's order; else its default names,
the first one a row has wins). A cell that cannot make an example gives the row a reason instead,
which sends it to errors.csv; only a file that cannot hold the columns at all stops the job.
"""

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.batch.inputs import InputFileError, InputRecord, csv_columns, is_csv, is_plain_text, read_records
from app.config import TaskName
from app.tasks.base import Task
from app.tasks.checkpoint import ServedModel
from app.tasks.token_classification import Words

TOKENS_COLUMN = "tokens"  # NER: a list of words (in CSV, the list JSON-encoded)


@dataclass(frozen=True)
class Field:
    """One input of a task's example."""

    name: str  # what predictions.jsonl calls it
    columns: tuple[str, ...]  # the column names it is read from; the first a row has wins
    required: bool = True


@dataclass(frozen=True)
class RowLayout:
    task: TaskName
    fields: tuple[Field, ...]
    named_by_user: bool = False  # by --column: a CSV must have every one

    @property
    def line_field(self) -> str:
        """The column a plain-text line stands for."""
        first = self.fields[0]
        return first.name if first.name in first.columns else first.columns[0]


@dataclass(frozen=True)
class InputRow:
    file: Path
    row: int  # 0-based, counting data rows only: Azure's row_number_per_file
    example: Any  # what the task encodes; None for a bad row
    inputs: dict[str, Any]  # the example's fields by name, for predictions.jsonl
    error: str | None = None


class ColumnsError(InputFileError):
    """`--column` names more or fewer columns than the task reads."""


class BadCellError(Exception):
    """A row whose cells cannot make the task's example; the message is the reason."""


DEFAULT_FIELDS: dict[TaskName, tuple[Field, ...]] = {
    "fill-mask": (Field("input_string", ("input_string", "text")),),
    "text-classification": (
        Field("text", ("text", "input_string")),
        Field("text_pair", ("text_pair",), required=False),
    ),
    "token-classification": (Field("input_string", (TOKENS_COLUMN, "input_string", "text")),),
    "question-answering": (Field("question", ("question",)), Field("context", ("context",))),
    "next-sentence-prediction": (Field("sentence1", ("sentence1",)), Field("sentence2", ("sentence2",))),
    "feature-extraction": (Field("input_string", ("input_string", "text")),),
}


def layout_for(task: TaskName, columns: Sequence[str] | None = None) -> RowLayout:
    """The task's default columns, or the ones named, in the order of the task's fields."""
    defaults = DEFAULT_FIELDS[task]
    if not columns:
        return RowLayout(task, defaults)
    required = sum(field.required for field in defaults)
    if not required <= len(columns) <= len(defaults):
        expected = " or ".join(sorted({str(required), str(len(defaults))}))
        raise ColumnsError(
            f"{task} reads {expected} column(s) ({', '.join(field.name for field in defaults)}); "
            f"--column named {len(columns)}"
        )
    named = zip(defaults, columns, strict=False)  # an optional field left unnamed is dropped
    fields = tuple(Field(field.name, (column,), field.required) for field, column in named)
    return RowLayout(task, fields, named_by_user=True)


def batch_task(served: ServedModel, columns: Sequence[str] | None) -> Task[Any]:
    """The served task; a checkpoint that also predicts next sentences reads two columns as
    sentence pairs, as /score does."""
    if columns and len(columns) == 2 and "next-sentence-prediction" in served.tasks:
        return served.tasks["next-sentence-prediction"]
    return served.tasks[served.primary_task]


def check_file(layout: RowLayout, file: Path) -> None:
    """Raise InputFileError for a file that cannot hold the task's columns at all."""
    required = [field for field in layout.fields if field.required]
    if is_plain_text(file) and len(required) > 1:
        names = ", ".join(field.columns[0] for field in required)
        raise InputFileError(
            f"{file.name}: a plain-text file holds one text per line, but {layout.task} reads "
            f"{len(required)} columns ({names}); use CSV or JSONL"
        )
    if not is_csv(file):
        return
    header = csv_columns(file)
    for field in layout.fields if layout.named_by_user else required:
        if not any(column in header for column in field.columns):
            shown = header or None
            raise InputFileError(
                f"{file.name} has no column {_either(field.columns)} (columns: {shown}); use --column"
            )


def read_rows(file: Path, layout: RowLayout) -> Iterator[InputRow]:
    for record in read_records(file, layout.line_field):
        yield to_row(layout, record)


def to_row(layout: RowLayout, record: InputRecord) -> InputRow:
    if record.error is not None:
        return InputRow(record.file, record.row, None, {}, record.error)
    try:
        cells = [_cell(field, record.fields) for field in layout.fields]
        example, inputs = EXAMPLES[layout.task](cells, len(layout.fields) > 1)
    except BadCellError as exc:
        return InputRow(record.file, record.row, None, {}, str(exc))
    return InputRow(record.file, record.row, example, inputs)


# A field's cell: (the column it came from, its value; None when an optional field has none).
Cell = tuple[str, Any]


def _cell(field: Field, fields: dict[str, Any]) -> Cell:
    column = next((column for column in field.columns if column in fields), None)
    if column is None:
        if field.required:
            raise BadCellError(f"no {_either(field.columns)} field")
        return field.columns[0], None
    value = fields[column]
    if not field.required and (value is None or (isinstance(value, str) and not value.strip())):
        return column, None
    return column, value


def _either(columns: tuple[str, ...]) -> str:
    return " or ".join(f"'{column}'" for column in columns)


def _text(cell: Cell, with_column: bool) -> str:
    """A cell that must hold text; `with_column`: the reason names the column (tasks of several)."""
    column, value = cell
    prefix = f"'{column}': " if with_column else ""
    if not isinstance(value, str):
        raise BadCellError(f"{prefix}not text ({type(value).__name__})")
    if not value.strip():
        raise BadCellError(f"{prefix}empty")
    return value


def _one_text(cells: list[Cell], with_column: bool) -> tuple[str, dict[str, Any]]:
    text = _text(cells[0], with_column)
    return text, {"input_string": text}


def _text_pair(cells: list[Cell], with_column: bool) -> tuple[tuple[str, str | None], dict[str, Any]]:
    text = _text(cells[0], with_column)
    pair = _text(cells[1], with_column) if len(cells) > 1 and cells[1][1] is not None else None
    return (text, pair), {"text": text, "text_pair": pair}


def _two_texts(names: tuple[str, str]) -> Callable[[list[Cell], bool], tuple[Any, dict[str, Any]]]:
    def example(cells: list[Cell], with_column: bool) -> tuple[tuple[str, str], dict[str, Any]]:
        first, second = _text(cells[0], with_column), _text(cells[1], with_column)
        return (first, second), dict(zip(names, (first, second), strict=True))

    return example


def _words(cells: list[Cell], with_column: bool) -> tuple[Words, dict[str, Any]]:
    """A list of tokens (or, in a 'tokens' column, one JSON-encoded), else text split at spaces."""
    column, value = cells[0]
    if isinstance(value, str) and column == TOKENS_COLUMN:
        try:
            value = json.loads(value)
        except ValueError:
            raise BadCellError(f"'{column}': not a JSON list of tokens") from None
        if not isinstance(value, list):
            raise BadCellError(f"'{column}': not a JSON list of tokens")
    if isinstance(value, list):
        if not value:
            raise BadCellError("no tokens")
        if not all(isinstance(token, str) and token.strip() for token in value):
            raise BadCellError("tokens must be non-empty strings")
        return Words.from_tokens(value), {"tokens": value}
    text = _text(cells[0], with_column)
    return Words.from_text(text), {"input_string": text}


EXAMPLES: dict[TaskName, Callable[[list[Cell], bool], tuple[Any, dict[str, Any]]]] = {
    "fill-mask": _one_text,
    "text-classification": _text_pair,
    "token-classification": _words,
    "question-answering": _two_texts(("question", "context")),
    "next-sentence-prediction": _two_texts(("sentence1", "sentence2")),
    "feature-extraction": _one_text,
}
