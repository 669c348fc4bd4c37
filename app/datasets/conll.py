"""CoNLL-style NER data: the original column files (IOB1) and the Hugging Face JSON lines (IOB2).

Models and seqeval read IOB2, where every entity starts with B-. The original CoNLL-2003 files
(`eng.train`, `eng.testa`, `eng.testb`) are IOB1: an entity starts with I-, and B- appears only
where an entity follows another of the same type. Column files are converted on reading; the
conversion leaves IOB2 tags as they are, so every reader applies it and either scheme works.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.datasets.labels import resolve_label
from app.datasets.records import DatasetError, read_records

RECORD_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
DOCUMENT_START = "-DOCSTART-"
# Hugging Face's conll2003 rows carry both; names do not depend on a checkpoint's id2label order.
TAG_NAME_COLUMN = "ner_tags_str"
TAG_ID_COLUMN = "ner_tags"


@dataclass(frozen=True)
class TaggedSentence:
    tokens: list[str]
    tags: list[str]  # IOB2, one per token
    row: int = 0  # the JSON line or CSV row, or the line of a column file where the sentence starts


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """An I- tag that does not continue an entity of its type starts one, so it becomes B-."""
    converted = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            converted.append("B-" + tag[2:])
        else:
            converted.append(tag)
        previous = tag
    return converted


def read_conll_columns(path: Path) -> list[TaggedSentence]:
    """Token in the first column, NER tag in the last; blank lines end sentences; -DOCSTART- skipped."""
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0

    def end_sentence() -> None:
        if tokens:
            sentences.append(TaggedSentence(list(tokens), iob1_to_iob2(tags), start))
        tokens.clear()
        tags.clear()

    with path.open(encoding="utf-8") as stream:
        for line_number, line in enumerate(stream, start=1):
            columns = line.split()
            if not columns or columns[0] == DOCUMENT_START:
                end_sentence()
                continue
            if len(columns) < 2:
                raise DatasetError(f"{path.name} row {line_number}: a token without a tag column")
            if not tokens:
                start = line_number
            tokens.append(columns[0])
            tags.append(columns[-1])
    end_sentence()
    return sentences


def load_tagged_sentences(
    path: Path, labels: Sequence[str], tokens_column: str = "tokens", tags_column: str | None = None
) -> list[TaggedSentence]:
    """From JSON lines or CSV (lists, or whitespace-separated strings), else from a column file.

    `tags_column` unset: `ner_tags_str` where a row has it, else `ner_tags` (ids of the model's
    labels). Every tag must be one of `labels`.
    """
    if path.suffix.lower() in RECORD_SUFFIXES:
        sentences = _from_records(path, labels, tokens_column, tags_column)
    else:
        sentences = read_conll_columns(path)
        for sentence in sentences:
            for offset, tag in enumerate(sentence.tags):
                where = f"{path.name} row {sentence.row + offset}, field 'NER tag (last column)'"
                resolve_label(tag, labels, where)
    if not sentences:
        raise DatasetError(f"{path.name} holds no sentences")
    return sentences


def _from_records(
    path: Path, labels: Sequence[str], tokens_column: str, tags_column: str | None
) -> list[TaggedSentence]:
    sentences = []
    for record in read_records(path):
        column = tags_column or (TAG_NAME_COLUMN if TAG_NAME_COLUMN in record.fields else TAG_ID_COLUMN)
        tokens = _as_list(record.get(tokens_column))
        raw_tags = _as_list(record.get(column))
        if len(tokens) != len(raw_tags):
            raise DatasetError(
                f"{record.where(column)}: {len(raw_tags)} tags for {len(tokens)} tokens in '{tokens_column}'"
            )
        tags = [resolve_label(tag, labels, record.where(column)) for tag in raw_tags]
        sentences.append(TaggedSentence([str(token) for token in tokens], iob1_to_iob2(tags), record.row))
    return sentences


def _as_list(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return list(value.split())
    return [value]
