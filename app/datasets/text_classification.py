"""Labelled texts (or text pairs) from CSV or JSON lines, e.g. emotion's `{"text", "label"}` rows."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.datasets.labels import resolve_label
from app.datasets.records import DatasetError, read_records


@dataclass(frozen=True)
class LabelledText:
    text: str
    text_pair: str | None
    label: str  # the model's label name
    row: int = 0  # where it came from, for predictions.jsonl


def load_labelled_texts(
    path: Path,
    labels: Sequence[str],
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
) -> list[LabelledText]:
    examples = []
    for record in read_records(path):
        # A pair column may be null in a row that has no second text.
        pair = (
            record.text(text_pair_column)
            if text_pair_column and record.get(text_pair_column) is not None
            else None
        )
        label = resolve_label(record.get(label_column), labels, record.where(label_column))
        examples.append(LabelledText(record.text(text_column), pair, label, record.row))
    if not examples:
        raise DatasetError(f"{path.name} holds no rows")
    return examples
