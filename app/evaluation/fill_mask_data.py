"""Fill-mask evaluation data: Azure's wikipedia-for-mask-filling JSONL, LAMA JSONL, or generic CSV/JSONL."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app.datasets.records import DatasetError, read_records
from app.tasks.mask_spelling import MASK_SPELLING

DataFormat = Literal["auto", "azure", "lama", "generic"]


@dataclass(frozen=True)
class EvalExample:
    text: str  # with one mask per gold string, in order
    golds: list[str]
    relation: str | None = None

    def unmasked(self) -> str:
        """The text with each mask replaced by its gold string (for pseudo-perplexity)."""
        golds = iter(self.golds)
        return MASK_SPELLING.sub(lambda _: next(golds), self.text)


def load_examples(
    path: Path,
    data_format: DataFormat = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> tuple[list[EvalExample], int]:
    """The examples, and how many rows were skipped (masks and golds that do not pair up)."""
    records = [record.fields for record in read_records(path)]
    if not records:
        raise DatasetError(f"{path} holds no rows")
    chosen = _detect(records[0], text_column) if data_format == "auto" else data_format
    examples: list[EvalExample] = []
    skipped = 0
    for record in records:
        for example in _examples(record, chosen, text_column, label_column):
            if example is None or len(MASK_SPELLING.findall(example.text)) != len(example.golds):
                skipped += 1
            else:
                examples.append(example)
    return examples, skipped


def _detect(record: dict[str, Any], text_column: str | None) -> DataFormat:
    if text_column:
        return "generic"
    if "masked_sentences" in record and "obj_label" in record:
        return "lama"
    if "input_string" in record and "masks" in record:
        return "azure"
    raise DatasetError("Unknown layout: give --text-column and --label-column for generic data")


def _examples(
    record: dict[str, Any], data_format: DataFormat, text_column: str | None, label_column: str | None
) -> Iterator[EvalExample | None]:
    if data_format == "azure":
        yield EvalExample(str(record["input_string"]), [str(gold) for gold in record["masks"]])
    elif data_format == "lama":
        relation = record.get("predicate_id") or record.get("relation")
        for sentence in record["masked_sentences"]:
            yield EvalExample(str(sentence), [str(record["obj_label"])], relation)
    else:
        if not text_column or not label_column:
            raise DatasetError("Generic data needs --text-column and --label-column")
        if text_column not in record or label_column not in record:
            yield None
            return
        label = record[label_column]
        golds = [str(gold) for gold in label] if isinstance(label, list) else [str(label)]
        yield EvalExample(str(record[text_column]), golds, record.get("relation"))
