"""Extractive QA data: SQuAD's official JSON, or one question per row (Azure's SQuAD JSON lines).

A row's answers may be SQuAD-on-the-Hub's `{"text": [...], "answer_start": [...]}`, a list of
`{"text", "answer_start"}` objects, a list of strings, or one string.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.datasets.records import DatasetError, Record, read_records


@dataclass(frozen=True)
class Answer:
    text: str
    start: int | None = None  # character offset into the context, when the data gives it


@dataclass(frozen=True)
class QAExample:
    id: str
    question: str
    context: str
    answers: list[Answer]  # empty: unanswerable (SQuAD 2.0)
    title: str | None = None


def read_squad_json(path: Path) -> list[QAExample]:
    """SQuAD's official layout: data[].paragraphs[].qas[], as `dev-v1.1.json`."""
    document = _load_json(path)
    if not _is_official(document):
        raise DatasetError(f"{path.name} is not SQuAD's official JSON (no top-level 'data' list)")
    return _from_official(document)


def _from_official(document: dict[str, Any]) -> list[QAExample]:
    examples = []
    for article in document["data"]:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = [Answer(str(a["text"]), a.get("answer_start")) for a in qa.get("answers", [])]
                examples.append(
                    QAExample(
                        str(qa["id"]), qa["question"], paragraph["context"], answers, article.get("title")
                    )
                )
    return examples


def load_qa_examples(
    path: Path,
    question_column: str = "question",
    context_column: str = "context",
    answers_column: str = "answers",
) -> list[QAExample]:
    """The official JSON when the file is one JSON object with 'data', else rows of CSV or JSON lines."""
    document = _whole_json_document(path)
    if _is_official(document):
        examples = _from_official(document)
    else:
        examples = [
            QAExample(
                str(record.fields.get("id", record.row)),
                record.text(question_column),
                record.text(context_column),
                parse_answers(record, answers_column),
                record.fields.get("title"),
            )
            for record in read_records(path)
        ]
    if not examples:
        raise DatasetError(f"{path.name} holds no questions")
    return examples


def parse_answers(record: Record, column: str) -> list[Answer]:
    value = record.get(column)
    if isinstance(value, str) and record.path.suffix.lower() == ".csv" and value.startswith(("{", "[")):
        value = json.loads(value)  # a CSV cell holding JSON, as pandas writes a dict column
    if isinstance(value, dict) and "text" in value:
        starts = value.get("answer_start") or [None] * len(value["text"])
        return [Answer(str(text), start) for text, start in zip(value["text"], starts, strict=False)]
    if isinstance(value, str):
        return [Answer(value)]
    if isinstance(value, list):
        return [_answer(item, record.where(column)) for item in value]
    raise DatasetError(f"{record.where(column)}: answers must be text, a list or {{'text': [...]}}")


def _answer(item: Any, where: str) -> Answer:
    if isinstance(item, str):
        return Answer(item)
    if isinstance(item, dict) and "text" in item:
        return Answer(str(item["text"]), item.get("answer_start"))
    raise DatasetError(f"{where}: an answer must be text or {{'text', 'answer_start'}}")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetError(f"{path.name} is not JSON: {exc}") from exc


def _whole_json_document(path: Path) -> Any:
    """A .json file parsed whole; None for JSON lines (several documents) or any other file."""
    if path.suffix.lower() != ".json":
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _is_official(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("data"), list)
