"""The pure parts of `POST /`: which task a body asks for, its parameters and their errors, and the
shapes of the answers (one input, a list, several masks, QA's top_k), without a model."""

from typing import Any

import pytest
from pydantic import BaseModel

from app.errors import InvalidRequestError, PayloadTooLargeError
from app.serving.huggingface.answers import huggingface_answers
from app.serving.huggingface.requests import parse_job
from app.serving.huggingface.schemas import HuggingFaceRequest
from app.serving.openapi_inline import inline_schema
from app.tasks.base import Scored
from app.tasks.checkpoint import ServedModel
from app.tasks.fill_mask import Candidate
from app.tasks.question_answering import Span
from app.tasks.text_classification import apply_function

PRETRAINING = ServedModel(source="tiny", tasks={"fill-mask": "MLM", "next-sentence-prediction": "NSP"})  # type: ignore[dict-item]
FILL_MASK_ONLY = ServedModel(
    source="tiny",
    tasks={"fill-mask": "MLM"},  # type: ignore[dict-item]
    unavailable={"next-sentence-prediction": "No NSP head in these weights."},
)
QA = ServedModel(source="tiny", tasks={"question-answering": "QA"})  # type: ignore[dict-item]


def job(body: Any, model: ServedModel = PRETRAINING, max_inputs: int = 8) -> Any:
    return parse_job(body, model, max_inputs=max_inputs, max_top_k=10)


def candidate(token: int, score: float) -> Candidate:
    return Candidate(f"t{token}", token, score, sequence=f"seq {token}")


def test_pairs_mean_next_sentence_prediction_on_a_checkpoint_that_also_fills_masks() -> None:
    assert job({"inputs": "a [MASK]"}).task == "fill-mask"
    assert job({"inputs": ["a [MASK]", "b [MASK]"]}).task == "fill-mask"
    pair = job({"inputs": {"text": "a", "text_pair": "b"}})
    assert (pair.task, pair.examples, pair.single) == ("next-sentence-prediction", [("a", "b")], True)
    assert job({"inputs": [{"text": "a", "text_pair": "b"}]}).single is False


def test_pairs_for_a_checkpoint_without_an_nsp_head_get_its_reason() -> None:
    with pytest.raises(InvalidRequestError, match="No NSP head"):
        job({"inputs": {"text": "a", "text_pair": "b"}}, FILL_MASK_ONLY)


def test_defaults_are_the_pipelines() -> None:
    fill_mask = job({"inputs": "a [MASK]"})
    assert (fill_mask.options.top_k, fill_mask.options.with_sequences) == (5, True)
    nsp = job({"inputs": {"text": "a", "text_pair": "b"}, "parameters": None})
    assert nsp.options.top_k == 2
    question = job({"inputs": {"question": "q", "context": "c"}}, QA)
    assert (question.options.max_seq_length, question.options.handle_impossible_answer) == (384, False)


def test_targets_given_as_one_word_become_a_tuple() -> None:
    assert job({"inputs": "a [MASK]", "parameters": {"targets": "dog"}}).options.targets == ("dog",)


def test_too_many_inputs_get_413() -> None:
    with pytest.raises(PayloadTooLargeError, match="'inputs' has 9 inputs"):
        job({"inputs": ["a [MASK]"] * 9})


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"top_k": 11}, "'parameters.top_k' must be an integer from 1 to 10; got 11."),
        ({"top_k": True}, "'parameters.top_k' must be an integer from 1 to 10; got True."),
        ({"top_k": 2, "x": 1}, "Unknown parameter 'parameters.x' for fill-mask; supported: top_k, targets."),
        ({"targets": [1]}, "'parameters.targets"),
    ],
)
def test_parameter_errors_name_the_field(parameters: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        job({"inputs": "a [MASK]", "parameters": parameters})
    assert refused.value.message.startswith(message)


def test_one_input_with_one_mask_gets_its_candidates() -> None:
    answer = [[candidate(7, 0.6), candidate(8, 0.3)]]
    assert huggingface_answers("fill-mask", [answer], single=True) == [
        {"score": 0.6, "token": 7, "token_str": "t7", "sequence": "seq 7"},
        {"score": 0.3, "token": 8, "token_str": "t8", "sequence": "seq 8"},
    ]


def test_several_masks_get_a_list_each_and_several_inputs_a_list_each() -> None:
    two_masks = [[candidate(1, 0.5)], [candidate(2, 0.4)]]
    one_mask = [[candidate(3, 0.9)]]
    shaped = huggingface_answers("fill-mask", [two_masks, one_mask], single=False)
    assert [[[c["token"] for c in mask] for mask in shaped[0]], [c["token"] for c in shaped[1]]] == [
        [[1], [2]],
        [3],
    ]


def test_one_text_classified_is_still_answered_as_a_list_of_lists() -> None:
    ranked = [Scored("joy", 0.7), Scored("fear", 0.2)]
    expected = [{"label": "joy", "score": 0.7}, {"label": "fear", "score": 0.2}]
    assert huggingface_answers("text-classification", [ranked], single=True) == [expected]
    assert huggingface_answers("next-sentence-prediction", [ranked], single=True) == expected


def test_question_answering_answers_an_object_for_top_1_and_a_list_beyond() -> None:
    spans = [Span("Paris", 0.8, 0, 5), Span("France", 0.1, 10, 16)]
    assert huggingface_answers("question-answering", [spans[:1]], single=True) == {
        "answer": "Paris",
        "score": 0.8,
        "start": 0,
        "end": 5,
    }
    shaped = huggingface_answers("question-answering", [spans, spans], single=False, top_k=2)
    assert [[span["answer"] for span in answer] for answer in shaped] == [["Paris", "France"]] * 2


def test_function_to_apply_never_overflows() -> None:
    assert apply_function("sigmoid", [-1000.0, 0.0, 1000.0]) == [0.0, 0.5, 1.0]
    assert apply_function("softmax", [1000.0, 1000.0]) == [0.5, 0.5]
    assert apply_function("none", [-3.0]) == [-3.0]


class Inner(BaseModel):
    word: str


class Outer(BaseModel):
    first: Inner
    rest: list[Inner] | None = None


def test_inline_schema_leaves_no_reference_behind() -> None:
    schema = inline_schema(Outer)
    assert "$ref" not in str(schema) and "$defs" not in schema
    assert schema["properties"]["first"]["properties"]["word"]["type"] == "string"
    request = inline_schema(HuggingFaceRequest)
    assert "$ref" not in str(request) and "question" in str(request)
