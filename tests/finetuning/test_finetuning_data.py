"""The data of a fine-tuning run is checked before anything trains: bad data is one line naming file,
row and field, exit status 2 and no DIR; label sets are decided from the training file."""

import json
from pathlib import Path
from typing import Any

import pytest

from app.finetuning.data import load_task_data
from app.finetuning.options import FinetuneOptions
from tests.finetuning_runs import finetune, write_jsonl

GOOD_TEXTS = [{"text": "dog and cat", "label": "zebra"}, {"text": "Paris is a city", "label": "apple"}]
GOOD_SENTENCES = [
    {"tokens": ["the", "king", "is", "in", "Paris"], "ner_tags_str": ["O", "B-PER", "O", "O", "B-LOC"]},
    {"tokens": ["London", "is", "a", "city"], "ner_tags_str": ["B-LOC", "O", "O", "O"]},
]
CONTEXT = "the king is in Paris ."
GOOD_QUESTION = {
    "id": "q1",
    "question": "where is the king ?",
    "context": CONTEXT,
    "answers": {"text": ["Paris"], "answer_start": [15]},
}


def with_row(rows: list[dict[str, Any]], index: int, **changes: Any) -> list[dict[str, Any]]:
    """`rows` with row `index` (0-based) changed; a change to None drops the field."""
    changed = {**rows[index], **changes}
    changed = {name: value for name, value in changed.items() if value is not None}
    return [changed if position == index else row for position, row in enumerate(rows)]


# (task, training rows, validation rows or None, extra arguments, what the one line must say)
BAD_DATA = {
    "missing column": (
        "text-classification",
        with_row(GOOD_TEXTS, 1, text=None),
        None,
        [],
        ["train.jsonl row 2, field 'text': missing"],
    ),
    "empty text": (
        "text-classification",
        with_row(GOOD_TEXTS, 1, text="   "),
        None,
        [],
        ["train.jsonl row 2, field 'text': empty text"],
    ),
    "validation label the training file lacks": (
        "text-classification",
        GOOD_TEXTS,
        with_row(GOOD_TEXTS, 1, label="mango"),
        [],
        ["validation.jsonl row 2, field 'label'", "'mango' does not occur in the training file train.jsonl"],
    ),
    "integer labels without --label-names": (
        "text-classification",
        [{"text": "dog and cat", "label": 0}, {"text": "Paris", "label": 1}],
        None,
        [],
        ["train.jsonl row 1, field 'label'", "--label-names"],
    ),
    "label id out of --label-names": (
        "text-classification",
        [{"text": "dog and cat", "label": 0}, {"text": "Paris", "label": 2}],
        None,
        ["--label-names", "zebra,apple"],
        ["train.jsonl row 2, field 'label'", "label id 2 is out of range"],
    ),
    "more tags than tokens": (
        "token-classification",
        with_row(GOOD_SENTENCES, 1, ner_tags_str=["B-LOC", "O", "O", "O", "O"]),
        None,
        [],
        ["train.jsonl row 2, field 'ner_tags_str'", "5 tags for 4 tokens"],
    ),
    "fewer tags than tokens": (
        "token-classification",
        GOOD_SENTENCES,
        with_row(GOOD_SENTENCES, 0, ner_tags_str=["O", "B-PER"]),
        [],
        ["validation.jsonl row 1, field 'ner_tags_str'", "2 tags for 5 tokens"],
    ),
    "integer tags without --label-names": (
        "token-classification",
        [{"tokens": ["the", "king"], "ner_tags": [0, 1]}],
        None,
        [],
        ["train.jsonl row 1, field 'ner_tags'", "--label-names"],
    ),
    "validation tag the training file lacks": (
        "token-classification",
        GOOD_SENTENCES,
        with_row(GOOD_SENTENCES, 1, ner_tags_str=["B-ORG", "O", "O", "O"]),
        [],
        ["validation.jsonl row 2, field 'ner_tags_str'", "'B-ORG'", "does not occur in train.jsonl"],
    ),
    "answer not at its answer_start": (
        "question-answering",
        [GOOD_QUESTION, {**GOOD_QUESTION, "id": "q2", "answers": {"text": ["Paris"], "answer_start": [3]}}],
        None,
        [],
        ["train.jsonl question q2, field 'answers'", "'Paris' is not at answer_start 3"],
    ),
    "training answer without answer_start": (
        "question-answering",
        [{**GOOD_QUESTION, "answers": ["Paris"]}],
        None,
        [],
        ["train.jsonl question q1, field 'answers'", "without answer_start"],
    ),
    "empty context": (
        "question-answering",
        [GOOD_QUESTION],
        [{**GOOD_QUESTION, "context": " "}],
        [],
        ["validation.jsonl question q1, field 'context': empty context"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_one_line_exit_2_and_nothing_written(
    case: str, tmp_path: Path, trainable_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task, train_rows, validation_rows, arguments, expected = BAD_DATA[case]
    files = {"train": write_jsonl(tmp_path / "train.jsonl", train_rows)}
    if validation_rows is not None:
        files["validation"] = write_jsonl(tmp_path / "validation.jsonl", validation_rows)
    output = tmp_path / "out"
    assert finetune(task, trainable_bert_dir, output, *arguments, **files) == 2
    assert_one_error_line(capsys.readouterr().err, expected)
    assert not output.exists()


def test_missing_file_is_named(
    tmp_path: Path, trainable_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", GOOD_TEXTS)
    output = tmp_path / "out"
    status = finetune(
        "text-classification", trainable_bert_dir, output, train=train, test=tmp_path / "nowhere.jsonl"
    )
    assert status == 2
    assert_one_error_line(capsys.readouterr().err, ["nowhere.jsonl is not a file"])
    assert not output.exists()


def assert_one_error_line(err: str, expected: list[str]) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for part in expected:
        assert part in lines[0]


def options(tmp_path: Path, task: Any, train: Path, **fields: Any) -> FinetuneOptions:
    return FinetuneOptions(task=task, train=train, output=tmp_path / "out", **fields)


def test_string_labels_keep_first_appearance_order(tmp_path: Path) -> None:
    rows = [
        {"text": "a", "label": "zebra"},
        {"text": "b", "label": "apple"},
        {"text": "c", "label": "mango"},
        {"text": "d", "label": "apple"},
    ]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    data = load_task_data(options(tmp_path, "text-classification", train))
    assert data.labels == ["zebra", "apple", "mango"]
    assert [example.label for example in data.splits["train"]] == ["zebra", "apple", "mango", "apple"]


def test_integer_labels_map_to_label_names_in_id_order(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": 1}, {"text": "b", "label": 0}, {"text": "c", "label": 2}]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    csv_train = tmp_path / "train.csv"
    csv_train.write_text("text,label\na,1\nb,0\nc,2\n")
    for path in (train, csv_train):
        data = load_task_data(
            options(tmp_path, "text-classification", path, label_names=("sadness", "joy", "love"))
        )
        assert data.labels == ["sadness", "joy", "love"]
        assert [example.label for example in data.splits["train"]] == ["joy", "sadness", "love"]


def test_integer_tags_map_to_label_names(tmp_path: Path) -> None:
    rows = [{"tokens": ["the", "king", "queen"], "ner_tags": [0, 1, 2]}]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    names = ("O", "B-PER", "I-PER")
    data = load_task_data(options(tmp_path, "token-classification", train, label_names=names))
    assert data.labels == list(names)
    assert data.splits["train"][0].tags == ["O", "B-PER", "I-PER"]


def test_string_tags_in_the_ner_tags_column_need_no_label_names(tmp_path: Path) -> None:
    rows = [{"tokens": ["the", "king", "in", "Paris"], "ner_tags": ["O", "B-PER", "O", "B-LOC"]}]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    data = load_task_data(options(tmp_path, "token-classification", train))
    assert data.labels == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert data.splits["train"][0].tags == ["O", "B-PER", "O", "B-LOC"]


def test_max_samples_keep_the_first_rows(tmp_path: Path) -> None:
    rows = [{"text": str(index), "label": ("zebra", "apple")[index % 2]} for index in range(10)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    validation = write_jsonl(tmp_path / "validation.jsonl", rows)
    data = load_task_data(
        options(
            tmp_path,
            "text-classification",
            train,
            validation=validation,
            max_train_samples=4,
            max_eval_samples=3,
        )
    )
    assert data.sizes() == {"train": 4, "validation": 3}
    assert json.dumps(data.labels) == '["zebra", "apple"]'


def test_class_weights_outside_classification_are_refused_before_writing(
    tmp_path: Path, trainable_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", GOOD_SENTENCES)
    output = tmp_path / "out"
    arguments = ["--class-weights", "balanced"]
    assert finetune("token-classification", trainable_bert_dir, output, *arguments, train=train) == 2
    assert_one_error_line(capsys.readouterr().err, ["--class-weights balanced is for text-classification"])
    assert not output.exists()
