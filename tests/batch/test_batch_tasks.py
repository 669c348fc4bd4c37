"""Batch scoring for every task: predictions.csv holds /score's answer string, computed here
directly with the engine's `predict_all` (and, for classification, transformers' pipeline)."""

import ast
import csv
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.batch.inputs import InputRecord
from app.batch.task_rows import DEFAULT_FIELDS, layout_for, to_row
from app.cli import main
from app.config import TaskName
from app.engine.offline import predict_all
from app.tasks.azure_answers import azure_answer
from app.tasks.base import Task
from app.tasks.checkpoint import load_served_model
from app.tasks.fill_mask import FillMaskOptions
from app.tasks.next_sentence import NextSentenceOptions
from app.tasks.question_answering import QuestionAnsweringOptions
from app.tasks.text_classification import ClassificationOptions
from app.tasks.token_classification import TokenClassificationOptions, Words
from tests.paths import REPO_ROOT
from tests.tiny_bert import WORDS

NEW_TASKS: list[TaskName] = [
    "text-classification",
    "token-classification",
    "question-answering",
    "next-sentence-prediction",
]
# Words the tiny vocabulary splits into sub-tokens or lacks altogether.
ODD_WORDS = ["Parisian", "London's", "e-mail", "naïve", "3.5", "東京", "unknownword"]
Record = dict[str, Any]


def sentence(rng: random.Random, low: int = 2, high: int = 14) -> str:
    words = rng.choices(WORDS + ODD_WORDS, k=rng.randint(low, high))
    return " ".join(words) + rng.choice([".", "?", "", " !"])


def long_text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def task_files(task: TaskName, seed: int = 0) -> dict[str, list[Record]]:
    """~20 varied good rows per task over a CSV file and a JSONL file (and a CSV of tokens for NER)."""
    rng = random.Random(seed)
    if task == "text-classification":
        return {
            "a.csv": [{"text": sentence(rng), "text_pair": sentence(rng) if i % 2 else ""} for i in range(9)]
            + [{"text": long_text(rng, 700), "text_pair": ""}],
            "b.jsonl": [{"text": sentence(rng), "text_pair": sentence(rng)} for _ in range(4)]
            + [{"text": sentence(rng)} for _ in range(3)]
            + [{"input_string": sentence(rng)} for _ in range(3)]
            + [{"text": sentence(rng), "text_pair": None}],
        }
    if task == "token-classification":
        return {
            "a.csv": [{"input_string": sentence(rng)} for _ in range(8)]
            + [{"input_string": "  spaced\tout  "}],
            "b.jsonl": [{"tokens": sentence(rng).split()} for _ in range(5)]
            + [{"text": sentence(rng)} for _ in range(3)]
            + [{"tokens": long_text(rng, 600).split()}],
            "c.csv": [{"tokens": sentence(rng).split()} for _ in range(3)],
        }
    if task == "question-answering":
        return {
            "a.csv": [{"question": sentence(rng, 2, 6), "context": sentence(rng, 5, 30)} for _ in range(9)]
            + [{"question": "where is the city ?", "context": long_text(rng, 600)}],
            "b.jsonl": [
                {"question": sentence(rng, 2, 6), "context": sentence(rng, 5, 30)} for _ in range(10)
            ],
        }
    return {
        "a.csv": [{"sentence1": sentence(rng), "sentence2": sentence(rng)} for _ in range(10)],
        "b.jsonl": [{"sentence1": sentence(rng), "sentence2": sentence(rng)} for _ in range(9)]
        + [{"sentence1": long_text(rng, 400), "sentence2": long_text(rng, 400)}],
    }


def write_inputs(folder: Path, files: dict[str, list[Record]]) -> Path:
    """CSV in Azure's batch layout (quoted, an unnamed index column; lists JSON-encoded), JSONL as is."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, records in files.items():
        path = folder / name
        if name.endswith(".jsonl"):
            path.write_text("".join(json.dumps(record) + "\n" for record in records))
            continue
        columns = list(dict.fromkeys(key for record in records for key in record))
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream, quoting=csv.QUOTE_ALL)
            writer.writerow(["", *columns])
            for index, record in enumerate(records):
                cells = [record.get(column, "") for column in columns]
                writer.writerow([index, *(json.dumps(c) if isinstance(c, list) else c for c in cells)])
    return folder


def example_of(task: TaskName, record: Record) -> Any:
    """The task's example for a good row, as the brief defines the columns."""
    if task == "text-classification":
        return (record.get("text") or record["input_string"], record.get("text_pair") or None)
    if task == "token-classification":
        if "tokens" in record:
            return Words.from_tokens(record["tokens"])
        return Words.from_text(record.get("input_string") or record["text"])
    if task == "question-answering":
        return (record["question"], record["context"])
    if task == "next-sentence-prediction":
        return (record["sentence1"], record["sentence2"])
    return record["input_string"]


def options_of(task: TaskName, top_k: int = 1) -> Any:
    return {
        "fill-mask": FillMaskOptions(top_k),
        "text-classification": ClassificationOptions(top_k),
        "token-classification": TokenClassificationOptions(),
        "question-answering": QuestionAnsweringOptions(top_k=top_k),
        "next-sentence-prediction": NextSentenceOptions(top_k),
    }[task]


def direct_answers(task: Task[Any], records: list[Record], top_k: int = 1) -> list[Any]:
    answers = predict_all(
        task, [example_of(task.name, r) for r in records], options_of(task.name, top_k), 4096, 32
    )
    assert not [answer for answer in answers if isinstance(answer, Exception)]
    return answers


def expected_predictions(task: Task[Any], files: dict[str, list[Record]]) -> list[list[str]]:
    """predictions.csv rows for good input rows, in file (sorted) and row order."""
    keys = [(name, row) for name in sorted(files) for row in range(len(files[name]))]
    answers = direct_answers(task, [files[name][row] for name, row in keys])
    return [
        [str(row), azure_answer(task.name, a), name] for (name, row), a in zip(keys, answers, strict=True)
    ]


def read_predictions(directory: Path) -> list[list[str]]:
    with (directory / "predictions.csv").open(newline="") as stream:
        return list(csv.reader(stream))


@pytest.fixture(scope="module")
def served_task(tiny_task_dir: Callable[[str], Path]) -> Callable[[TaskName], Task[Any]]:
    """The task loaded from its tiny checkpoint, once per module."""
    loaded: dict[TaskName, Task[Any]] = {}

    def load(task: TaskName) -> Task[Any]:
        if task not in loaded:
            loaded[task] = load_served_model(str(tiny_task_dir(task))).tasks[task]
        return loaded[task]

    return load


@pytest.mark.parametrize("task", NEW_TASKS)
def test_predictions_csv_holds_score_answer_per_row_for_each_task(
    task: TaskName, tmp_path: Path, tiny_task_dir: Callable[[str], Path], served_task: Any
) -> None:
    files = task_files(task)
    folder = write_inputs(tmp_path / "in", files)
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--output", str(out), "--model", str(tiny_task_dir(task))]) == 0
    rows = read_predictions(out)
    assert rows == expected_predictions(served_task(task), files)
    assert len(rows) == sum(len(records) for records in files.values()) >= 20
    assert len({row[1] for row in rows}) > 1, "a random model answering one thing proves little"
    assert (out / "errors.csv").read_text().splitlines() == [
        "batch_input_file_name,row_number_per_file,reason"
    ]


def test_classification_predictions_equal_the_pipelines_top_label(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    from transformers import pipeline

    checkpoint = tiny_task_dir("text-classification")
    files = task_files("text-classification", seed=1)
    folder = write_inputs(tmp_path / "in", files)
    assert main(["batch", str(folder), "--output", str(tmp_path / "out"), "--model", str(checkpoint)]) == 0
    oracle = pipeline("text-classification", model=str(checkpoint), device="cpu")
    for row, label, name in read_predictions(tmp_path / "out"):
        text, pair = example_of("text-classification", files[name][int(row)])
        inputs: Any = text if pair is None else {"text": text, "text_pair": pair}
        assert label == oracle(inputs, top_k=None, truncation=True)[0]["label"]


@pytest.mark.parametrize(
    ("task", "key"),
    [
        ("text-classification", "labels"),
        ("next-sentence-prediction", "labels"),
        ("question-answering", "answers"),
        ("token-classification", "tags"),
    ],
)
def test_jsonl_output_has_inputs_prediction_and_scored_candidates(
    task: TaskName, key: str, tmp_path: Path, tiny_task_dir: Callable[[str], Path], served_task: Any
) -> None:
    files = task_files(task, seed=2)
    folder = write_inputs(tmp_path / "in", files)
    out = tmp_path / "out"
    args = ["batch", str(folder), "--output", str(out), "--model", str(tiny_task_dir(task))]
    assert main([*args, "--format", "jsonl", "--top-k", "2"]) == 0
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    inputs = [files[name][row] for name in sorted(files) for row in range(len(files[name]))]
    answers = direct_answers(served_task(task), inputs, top_k=2)
    assert len(records) == len(inputs)
    for record, source, answer in zip(records, inputs, answers, strict=True):
        assert record["prediction"] == azure_answer(task, answer)
        candidates = record[key]
        if task == "token-classification":
            assert [(c["word"], c["entity"], c["start"], c["end"]) for c in candidates] == [
                (t.word, t.entity, t.start, t.end) for t in answer
            ]
            assert record.get("tokens", record.get("input_string")) == source.get(
                "tokens", source.get("input_string", source.get("text"))
            )
        elif task == "question-answering":
            assert [(c["answer"], c["start"], c["end"]) for c in candidates] == [
                (s.answer, s.start, s.end) for s in answer
            ]
            assert (record["question"], record["context"]) == (source["question"], source["context"])
        else:
            assert [c["label"] for c in candidates] == [s.label for s in answer] and len(candidates) == 2
            assert candidates[0]["score"] >= candidates[1]["score"]
        assert all(0 <= c["score"] <= 1 for c in candidates)


def test_a_tokens_list_in_jsonl_gets_one_tag_per_token(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    token_lists = [
        ["Paris", "is", "in", "France", "."],
        ["London's", "e-mail", "naïve", "東京", "3.5", "unknownword"],  # sub-tokens and [UNK]
        ["one"],
        ["the", "king", "of", "two words", "England"],  # a token may hold a space
    ]
    (tmp_path / "tokens.jsonl").write_text("".join(json.dumps({"tokens": t}) + "\n" for t in token_lists))
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "tokens.jsonl"), "--output", str(out)]
    assert main([*args, "--model", str(tiny_task_dir("token-classification")), "--format", "jsonl"]) == 0
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    for tokens, record in zip(token_lists, records, strict=True):
        assert [tag["word"] for tag in record["tags"]] == tokens
        assert len(ast.literal_eval(record["prediction"])) == len(tokens)


def test_a_pretraining_checkpoint_reads_two_columns_as_next_sentence_prediction(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    checkpoint = str(tiny_task_dir("pretraining"))
    files = task_files("next-sentence-prediction", seed=3)
    folder = write_inputs(tmp_path / "in", files)
    served = load_served_model(checkpoint)
    expected = expected_predictions(served.tasks["next-sentence-prediction"], files)
    columns = ["--column", "sentence1", "--column", "sentence2"]
    assert (
        main(["batch", str(folder), "--output", str(tmp_path / "o1"), "--model", checkpoint, *columns]) == 0
    )
    assert read_predictions(tmp_path / "o1") == expected
    assert {row[1] for row in expected} <= {"IsNext", "NotNext"}
    by_flag = ["--task", "next-sentence-prediction"]
    assert (
        main(["batch", str(folder), "--output", str(tmp_path / "o2"), "--model", checkpoint, *by_flag]) == 0
    )
    assert read_predictions(tmp_path / "o2") == expected
    # Without either, the checkpoint fills masks: these files have no input_string column.
    assert main(["batch", str(folder), "--output", str(tmp_path / "o3"), "--model", checkpoint]) == 2


def test_columns_named_on_the_command_line_are_read_in_the_tasks_order(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path], served_task: Any
) -> None:
    files = task_files("question-answering", seed=4)
    renamed = {
        name: [{"q": r["question"], "passage": r["context"], "id": i} for i, r in enumerate(records)]
        for name, records in files.items()
    }
    folder = write_inputs(tmp_path / "in", renamed)
    model = ["--model", str(tiny_task_dir("question-answering"))]
    columns = ["--column", "q", "--column", "passage"]
    assert main(["batch", str(folder), "--output", str(tmp_path / "out"), *model, *columns]) == 0
    assert read_predictions(tmp_path / "out") == expected_predictions(
        served_task("question-answering"), files
    )


def test_batch_docs_table_names_each_tasks_default_columns_and_a_row_it_reads() -> None:
    section = (REPO_ROOT / "docs" / "batch-scoring.md").read_text().split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([a-z-]+) \| (.+?) \| `(\{.+?\})` \| .+ \|$", section, re.MULTILINE)
    assert sorted(task for task, _, _ in rows) == sorted(DEFAULT_FIELDS)
    for task, columns, example in rows:
        named = set(re.findall(r"`([a-z_0-9]+)`", columns))
        assert named == {column for field in DEFAULT_FIELDS[task] for column in field.columns}, task
        row = to_row(layout_for(task), InputRecord(Path("x.jsonl"), 0, json.loads(example)))
        assert row.error is None and row.example is not None, (task, row.error)
