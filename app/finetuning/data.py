"""The splits of a fine-tuning run, read and checked before anything trains or is written.

Readers are `app.datasets`' (CSV, JSON lines, Parquet, CoNLL column files, SQuAD's JSON); this
module decides the label set from the whole training file, checks every split against it and
against the task's rules, and picks `--max-*-samples` rows after that. Every problem is one
DatasetError naming file, row and field.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.datasets.conll import (
    RECORD_SUFFIXES,
    TAG_ID_COLUMN,
    TAG_NAME_COLUMN,
    TaggedSentence,
    load_tagged_sentences,
)
from app.datasets.labels import resolve_label
from app.datasets.records import DatasetError, read_records
from app.datasets.squad import QAExample, load_qa_examples
from app.datasets.text_classification import LabelledText, load_labelled_texts
from app.finetuning.options import FinetuneOptions

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TaskData:
    """Examples per split (None: the split was not given), and the label names in id order."""

    splits: dict[str, list[Any]]
    labels: list[str] | None

    def sizes(self) -> dict[str, int]:
        return {name: len(examples) for name, examples in self.splits.items()}


def load_task_data(options: FinetuneOptions) -> TaskData:
    paths = {"train": options.train, "validation": options.validation, "test": options.test}
    given = {name: path for name, path in paths.items() if path is not None}
    for path in given.values():
        if not path.is_file():
            raise DatasetError(f"{path} is not a file")
    if options.task == "text-classification":
        labels = classification_labels(options)
        splits: dict[str, list[Any]] = {name: _texts(path, labels, options) for name, path in given.items()}
    elif options.task == "token-classification":
        labels = ner_labels(options)
        splits = {name: _sentences(path, labels, options) for name, path in given.items()}
    else:
        labels = None
        splits = {name: _questions(path, options, training=name == "train") for name, path in given.items()}
    return TaskData(_limited(splits, options), labels)


def _limited(splits: dict[str, list[Any]], options: FinetuneOptions) -> dict[str, list[Any]]:
    limits = {"train": options.max_train_samples}
    limited = {}
    for name, examples in splits.items():
        limit = limits.get(name, options.max_eval_samples)
        limited[name] = examples[:limit] if limit is not None else examples
    return limited


def classification_labels(options: FinetuneOptions) -> list[str]:
    """`--label-names` in their order; else the training file's label strings in order of first
    appearance (never sorted: sorting is how emotion's ids got mislabelled)."""
    column = options.columns.label
    if options.label_names:
        names = list(options.label_names)
        for record in read_records(options.train):
            resolve_label(record.get(column), names, record.where(column))
        return names
    return _names_in_order(
        ((record.get(column), record.where(column)) for record in read_records(options.train)), column
    )


def ner_labels(options: FinetuneOptions) -> list[str]:
    """The tags of the whole training file (IOB2): O first, then per entity type in order of first
    appearance, B- before I-, so every type can open and continue an entity."""
    if options.label_names:
        return list(options.label_names)
    tags: list[str] = []
    for sentence in _raw_sentences(options):
        tags += sentence.tags
    types = list(dict.fromkeys(tag[2:] for tag in tags if tag[:2] in ("B-", "I-")))
    others = [tag for tag in dict.fromkeys(tags) if tag[:2] not in ("B-", "I-")]
    return ["O", *[tag for tag in others if tag != "O"], *[f"{p}-{t}" for t in types for p in ("B", "I")]]


def _raw_sentences(options: FinetuneOptions) -> list[TaggedSentence]:
    """The training sentences with their tags as written (names), for the label set."""
    path = options.train
    if path.suffix.lower() not in RECORD_SUFFIXES:
        return load_tagged_sentences(path, _AnyLabel())
    for record in read_records(path):
        column = options.columns.tags or (
            TAG_NAME_COLUMN if TAG_NAME_COLUMN in record.fields else TAG_ID_COLUMN
        )
        value = record.get(column)
        tags = value.split() if isinstance(value, str) else value if isinstance(value, list) else [value]
        if any(_is_tag_id(tag) for tag in tags):  # a column named ner_tags may hold names too
            raise DatasetError(
                f"{record.where(column)}: integer tags need their names: give --label-names "
                "O,B-PER,I-PER,... in id order, or a column of tag strings (--tags-column)"
            )
    return load_tagged_sentences(path, _AnyLabel(), options.columns.tokens, options.columns.tags)


def _is_tag_id(tag: object) -> bool:
    return (isinstance(tag, int) and not isinstance(tag, bool)) or (isinstance(tag, str) and tag.isdigit())


class _AnyLabel(list[str]):
    """Accepts every tag string: the label set is being discovered, not checked."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str)


def _names_in_order(values: Any, column: str) -> list[str]:
    names: list[str] = []
    for value, where in values:
        if isinstance(value, bool) or not isinstance(value, str) or value.strip().isdigit():
            raise DatasetError(
                f"{where}: integer labels need their names: give --label-names a,b,c in id order "
                "(emotion: sadness,joy,love,anger,fear,surprise)"
            )
        if not value.strip():
            raise DatasetError(f"{where}: empty label")
        if value not in names:
            names.append(value)
    if len(names) < 2:
        raise DatasetError(
            f"the training file has {len(names)} label(s) in '{column}'; a classifier needs two"
        )
    return names


def _texts(path: Path, labels: list[str], options: FinetuneOptions) -> list[LabelledText]:
    columns = options.columns
    if path != options.train:  # the training file made the label set: its labels are known
        _check_labels_known(path, labels, columns.label, options.train)
    examples = load_labelled_texts(path, labels, columns.text, columns.text_pair, columns.label)
    for example in examples:
        if not example.text.strip():
            raise DatasetError(f"{path.name} row {example.row}, field '{columns.text}': empty text")
    return examples


def _check_labels_known(path: Path, labels: Sequence[str], column: str, train: Path) -> None:
    for record in read_records(path):
        try:
            resolve_label(record.get(column), labels, record.where(column))
        except DatasetError as exc:
            raise DatasetError(
                f"{record.where(column)}: label {record.get(column)!r} does not occur in the training "
                f"file {train.name} (labels: {', '.join(labels)})"
            ) from exc


def _sentences(path: Path, labels: list[str], options: FinetuneOptions) -> list[TaggedSentence]:
    columns = options.columns
    try:
        sentences = load_tagged_sentences(path, labels, columns.tokens, columns.tags)
    except DatasetError as exc:
        if path == options.train or "is not one of the model's labels" not in str(exc):
            raise
        raise DatasetError(
            str(exc).replace("is not one of the model's labels", f"does not occur in {options.train.name}")
        ) from exc
    for sentence in sentences:
        if any(not token.strip() for token in sentence.tokens):
            raise DatasetError(f"{path.name} row {sentence.row}, field '{columns.tokens}': an empty token")
    return sentences


def _questions(path: Path, options: FinetuneOptions, training: bool) -> list[QAExample]:
    columns = options.columns
    examples = load_qa_examples(path, columns.question, columns.context, columns.answers)
    for example in examples:
        where = f"{path.name} question {example.id}"
        if not example.question.strip():
            raise DatasetError(f"{where}, field '{columns.question}': empty question")
        if not example.context.strip():
            raise DatasetError(f"{where}, field '{columns.context}': empty context")
        if training and not example.answers:
            raise DatasetError(f"{where}, field '{columns.answers}': no answer to train on")
        for answer in example.answers:
            if answer.start is None:
                if training:
                    raise DatasetError(f"{where}, field '{columns.answers}': an answer without answer_start")
                continue
            found = example.context[answer.start : answer.start + len(answer.text)]
            if found != answer.text:
                raise DatasetError(
                    f"{where}, field '{columns.answers}': answer {answer.text!r} is not at answer_start "
                    f"{answer.start} in the context (found {found!r})"
                )
    return examples
