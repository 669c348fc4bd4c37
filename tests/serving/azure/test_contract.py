from dataclasses import dataclass

import pytest

from app.errors import InvalidRequestError
from app.serving.azure.answers import shape_answers
from app.serving.azure.contract import parse_request_table
from app.serving.task_columns import TaskRequest, parse_task_request
from app.tasks.fill_mask import Candidate

TEXTS = ["Paris is the [MASK] of France.", "Today is a [MASK] day!"]


@dataclass(frozen=True)
class ScoreJob:
    """What a fill-mask request asks for, read back from the parsed request."""

    inputs: list[str]
    top_k: int | None
    plain_list: bool


def parse_score_request(body: object, max_top_k: int) -> ScoreJob:
    request = parse_task_request(parse_request_table(body), "fill-mask", max_top_k)
    return ScoreJob(request.examples, getattr(request.parameters, "top_k", None), request.table.plain)


def shape_response(job: ScoreJob, predictions: list[list[list[Candidate]]]) -> list[object]:
    body: dict[str, object] = (
        {"inputs": job.inputs} if job.plain_list else {"inputs": {"input_string": job.inputs}}
    )
    if job.top_k is not None:
        body["parameters"] = {"top_k": job.top_k}
    request: TaskRequest = parse_task_request(parse_request_table(body), "fill-mask", 10)
    return shape_answers(request, predictions)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"input_data": {"input_string": TEXTS}}, ScoreJob(TEXTS, None, plain_list=False)),
        ({"inputs": {"input_string": TEXTS}}, ScoreJob(TEXTS, None, plain_list=False)),
        ({"input_data": TEXTS}, ScoreJob(TEXTS, None, plain_list=True)),
        ({"inputs": TEXTS}, ScoreJob(TEXTS, None, plain_list=True)),
        ({"inputs": TEXTS, "parameters": {"top_k": 3}}, ScoreJob(TEXTS, 3, plain_list=True)),
        ({"inputs": TEXTS, "params": {"top_k": 2}}, ScoreJob(TEXTS, 2, plain_list=True)),
        (
            {"input_data": {"input_string": TEXTS, "parameters": {"top_k": 5}}},
            ScoreJob(TEXTS, 5, plain_list=False),
        ),
        ({"input_data": {"input_string": TEXTS}, "parameters": None}, ScoreJob(TEXTS, None, False)),
    ],
)
def test_parse_accepts_every_azure_format(body: object, expected: ScoreJob) -> None:
    assert parse_score_request(body, max_top_k=10) == expected


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([TEXTS], "must be a JSON object"),
        ("text", "must be a JSON object"),
        ({}, "Missing 'input_data'"),
        ({"input_data": {"input_string": TEXTS}, "inputs": TEXTS}, "either 'input_data' or 'inputs'"),
        ({"input_data": {"input_string": TEXTS}, "extra": 1}, "Unknown field 'extra'"),
        ({"input_data": {}}, "Missing 'input_data.input_string'"),
        ({"input_data": {"input_string": TEXTS, "text": 1}}, "Unknown field 'text' in 'input_data'"),
        ({"input_data": "Paris is the [MASK]."}, "'input_data' must be an object"),
        ({"input_data": {"input_string": "Paris is the [MASK]."}}, "must be a list of strings; got a string"),
        ({"input_data": {"input_string": []}}, "is empty"),
        ({"inputs": []}, "'inputs' is empty"),
        ({"inputs": ["a [MASK]", 7]}, "Input 1 must be a string; got a number"),
        ({"inputs": ["a [MASK]", None]}, "Input 1 must be a string; got null"),
        ({"inputs": TEXTS, "parameters": {"top_n": 3}}, "Unknown parameter 'top_n'"),
        ({"inputs": TEXTS, "parameters": [3]}, "'parameters' must be an object"),
        ({"inputs": TEXTS, "parameters": {"top_k": 0}}, "'top_k' must be an integer from 1 to 10; got 0"),
        ({"inputs": TEXTS, "parameters": {"top_k": 11}}, "from 1 to 10; got 11"),
        ({"inputs": TEXTS, "parameters": {"top_k": 2.5}}, "got 2.5"),
        ({"inputs": TEXTS, "parameters": {"top_k": "3"}}, "got '3'"),
        ({"inputs": TEXTS, "parameters": {"top_k": True}}, "got True"),
        ({"inputs": TEXTS, "parameters": {"top_k": 2}, "params": {"top_k": 2}}, "given twice"),
    ],
)
def test_parse_rejects_with_a_message_naming_the_problem(body: object, fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_score_request(body, max_top_k=10)
    assert fragment in caught.value.message


def _candidates(*words: str) -> list[Candidate]:
    return [Candidate(word, index, 1.0 / (index + 1)) for index, word in enumerate(words)]


def test_shape_answers_azure_records_with_masks_joined_by_commas() -> None:
    predictions = [[_candidates("capital")], [_candidates("a"), _candidates("b"), _candidates("c")]]
    job = ScoreJob(["x", "y"], None, plain_list=False)
    assert shape_response(job, predictions) == [{"0": "capital"}, {"0": "a,b,c"}]


def test_shape_answers_a_plain_list_for_a_plain_list() -> None:
    predictions = [[_candidates("capital")], [_candidates("beautiful")]]
    assert shape_response(ScoreJob(["x", "y"], None, True), predictions) == ["capital", "beautiful"]


def test_shape_with_top_k_lists_candidates_per_mask() -> None:
    predictions = [[_candidates("capital", "city")], [_candidates("a", "b"), _candidates("c", "d")]]
    shaped = shape_response(ScoreJob(["x", "y"], 2, True), predictions)
    assert shaped[0] == [
        [{"token_str": "capital", "token": 0, "score": 1.0}, {"token_str": "city", "token": 1, "score": 0.5}]
    ]
    assert [[c["token_str"] for c in mask] for mask in shaped[1]] == [["a", "b"], ["c", "d"]]
