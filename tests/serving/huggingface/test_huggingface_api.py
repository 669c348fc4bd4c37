"""`POST /`, the Hugging Face task API, driven by huggingface_hub's real InferenceClient against a
live server, equals transformers' pipelines on the same tiny checkpoints (fill-mask,
text-classification, token-classification under every aggregation strategy), the run_qa oracle of
tests/tasks/test_question_answering.py for QA, and the model's own logits for NSP."""

import itertools
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from tests.live_server import live_server
from tests.task_inputs import long_text, sentences
from tests.tasks.test_question_answering import qa_dir, run_qa  # noqa: F401 - the QA oracle's fixtures
from tests.tiny_bert import WORDS

pytestmark = pytest.mark.e2e

SCORE_TOLERANCE = 1e-4
API_KEY = "hf-test-key"
STRATEGIES = ["none", "simple", "first", "average", "max"]
NER_TEXTS = [*sentences(10, seed=51), "Parisian walked naïve 東京 e-mail to London's queen", ""]
CLASSIFIED = sentences(8, seed=52)


def masked(count: int, seed: int, masks: int = 1) -> list[str]:
    """Sentences of the tiny vocabulary with `masks` words replaced by [MASK]."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = rng.choices(WORDS, k=rng.randint(masks + 2, 14))
        for position in rng.sample(range(len(words)), masks):
            words[position] = "[MASK]"
        texts.append(" ".join(words) + ".")
    return texts


def plain(element: Any) -> dict[str, Any]:
    """A pipeline's dict or an InferenceClient element as JSON-like values, absent fields dropped."""
    return {
        key: value.item() if hasattr(value, "item") else value
        for key, value in dict(element).items()
        if value is not None
    }


def assert_same(ours: list[Any], theirs: list[Any]) -> None:
    """Equal but for the scores, which agree within SCORE_TOLERANCE."""
    ours, theirs = [plain(item) for item in ours], [plain(item) for item in theirs]
    assert [{k: v for k, v in o.items() if k != "score"} for o in ours] == [
        {k: v for k, v in t.items() if k != "score"} for t in theirs
    ]
    assert [o["score"] for o in ours] == pytest.approx([t["score"] for t in theirs], abs=SCORE_TOLERANCE)


@pytest.fixture(scope="module")
def pretraining_dir(tiny_task_dir: Callable[[str], Path]) -> Path:
    return tiny_task_dir("pretraining")


@pytest.fixture(scope="module")
def pretraining_url(pretraining_dir: Path) -> Iterator[str]:
    """Fills masks and predicts next sentences; requires an API key."""
    with live_server(model_id=str(pretraining_dir), api_key=API_KEY) as url:
        yield url


@pytest.fixture(scope="module")
def fill_mask_client(pretraining_url: str) -> InferenceClient:
    return InferenceClient(model=pretraining_url, token=API_KEY)


@pytest.fixture(scope="module")
def classifier_dir(tiny_task_dir: Callable[[str], Path]) -> Path:
    return tiny_task_dir("text-classification")


@pytest.fixture(scope="module")
def classifier_url(classifier_dir: Path) -> Iterator[str]:
    with live_server(model_id=str(classifier_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def ner_dir(tiny_task_dir: Callable[[str], Path]) -> Path:
    return tiny_task_dir("token-classification")


@pytest.fixture(scope="module")
def ner_url(ner_dir: Path) -> Iterator[str]:
    with live_server(model_id=str(ner_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def qa_url(qa_dir: Path) -> Iterator[str]:  # noqa: F811 - the fixture imported above
    with live_server(model_id=str(qa_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def pipelines(pretraining_dir: Path, classifier_dir: Path, ner_dir: Path) -> dict[str, Any]:
    from transformers import pipeline

    return {
        "fill-mask": pipeline("fill-mask", model=str(pretraining_dir), device="cpu"),
        "text-classification": pipeline("text-classification", model=str(classifier_dir), device="cpu"),
        "token-classification": pipeline("token-classification", model=str(ner_dir), device="cpu"),
    }


def test_fill_mask_equals_the_pipeline_with_its_default_top_k(
    fill_mask_client: InferenceClient, pipelines: dict[str, Any]
) -> None:
    answers = {}
    for text in masked(12, seed=1):
        answer = fill_mask_client.fill_mask(text)
        assert len(answer) == 5
        assert_same(answer, pipelines["fill-mask"](text))
        answers[text] = answer[0].token_str
    assert len(set(answers.values())) > 1, "a model that answers one token whatever the input"


def test_fill_mask_top_k_and_targets_equal_the_pipeline(
    fill_mask_client: InferenceClient, pipelines: dict[str, Any]
) -> None:
    (text,) = masked(1, seed=2)
    assert_same(fill_mask_client.fill_mask(text, top_k=3), pipelines["fill-mask"](text, top_k=3))
    targets = ["Paris", "dog", "walked", "Parisian"]  # the last is not a word of the vocabulary
    assert_same(
        fill_mask_client.fill_mask(text, targets=targets, top_k=2),
        pipelines["fill-mask"](text, targets=targets, top_k=2),
    )


def test_fill_mask_answers_a_list_per_mask_and_per_input_as_the_pipeline(
    pretraining_url: str, pipelines: dict[str, Any]
) -> None:
    texts = [*masked(2, seed=3, masks=2), *masked(1, seed=4)]
    response = httpx.post(
        pretraining_url,
        json={"inputs": texts, "parameters": {"top_k": 2}},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 200
    answers = response.json()
    assert len(answers) == len(texts)
    for text, answer in zip(texts, answers, strict=True):
        expected = pipelines["fill-mask"](text, top_k=2)
        if text.count("[MASK]") == 2:
            assert len(answer) == 2
            for mask, expected_mask in zip(answer, expected, strict=True):
                assert_same(mask, expected_mask)
        else:
            assert_same(answer, expected)


def test_next_sentence_equals_the_softmax_of_the_models_logits(
    pretraining_url: str, pretraining_dir: Path
) -> None:
    from transformers import AutoTokenizer, BertForPreTraining

    tokenizer = AutoTokenizer.from_pretrained(pretraining_dir)
    model = BertForPreTraining.from_pretrained(pretraining_dir).eval()
    pairs = list(zip(sentences(6, seed=5), sentences(6, seed=6), strict=True))
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"inputs": [{"text": text, "text_pair": pair} for text, pair in pairs]}
    answers = httpx.post(pretraining_url, json=body, headers=headers).json()
    one = httpx.post(pretraining_url, json={"inputs": body["inputs"][0]}, headers=headers).json()
    assert_same(one, answers[0])
    for (text, pair), answer in zip(pairs, answers, strict=True):
        with torch.inference_mode():
            logits = model(**tokenizer(text, pair, return_tensors="pt")).seq_relationship_logits[0]
        probabilities = dict(zip(["IsNext", "NotNext"], logits.softmax(-1).tolist(), strict=True))
        assert [label["label"] for label in answer] == sorted(probabilities, key=lambda k: -probabilities[k])
        assert {label["label"]: label["score"] for label in answer} == pytest.approx(
            probabilities, abs=SCORE_TOLERANCE
        )


def test_text_classification_equals_the_pipeline(classifier_url: str, pipelines: dict[str, Any]) -> None:
    client = InferenceClient(model=classifier_url)
    pipe = pipelines["text-classification"]
    for text in CLASSIFIED:
        assert_same(client.text_classification(text), pipe(text))
        assert_same(client.text_classification(text, top_k=3), pipe(text, top_k=3))
    for function in ("sigmoid", "softmax", "none"):
        ours = client.text_classification(CLASSIFIED[0], top_k=6, function_to_apply=function)  # type: ignore[arg-type]
        assert_same(ours, pipe(CLASSIFIED[0], top_k=6, function_to_apply=function))
    labels = {client.text_classification(text)[0].label for text in CLASSIFIED}
    assert len(labels) > 1, "a model that answers one label whatever the input"


def test_text_pairs_and_every_label_equal_the_pipeline(
    classifier_url: str, pipelines: dict[str, Any]
) -> None:
    pairs = [{"text": text, "text_pair": pair} for text, pair in itertools.pairwise(CLASSIFIED)]
    body = {"inputs": [*pairs, CLASSIFIED[0]], "parameters": {"top_k": None}}
    answers = httpx.post(classifier_url, json=body).json()
    expected = [pipelines["text-classification"](item, top_k=None) for item in body["inputs"]]
    assert len(answers) == len(expected) and all(len(answer) == 6 for answer in answers)
    for answer, labels in zip(answers, expected, strict=True):
        assert_same(answer, labels)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_token_classification_equals_the_pipeline_under_each_strategy(
    ner_url: str, pipelines: dict[str, Any], strategy: str
) -> None:
    client = InferenceClient(model=ner_url)
    found = 0
    for text in NER_TEXTS:
        ours = client.token_classification(text, aggregation_strategy=strategy)  # type: ignore[arg-type]
        assert_same(ours, pipelines["token-classification"](text, aggregation_strategy=strategy))
        found += len(ours)
    assert found > 5, "a model that finds no entity tests nothing"


def test_token_classification_ignore_labels_equal_the_pipeline(
    ner_url: str, pipelines: dict[str, Any]
) -> None:
    client = InferenceClient(model=ner_url)
    text = NER_TEXTS[0]
    assert_same(
        client.token_classification(text, aggregation_strategy="first", ignore_labels=[]),
        pipelines["token-classification"](text, aggregation_strategy="first", ignore_labels=[]),
    )


def test_long_text_is_read_in_the_pipelines_windows_with_stride(
    ner_url: str, pipelines: dict[str, Any]
) -> None:
    text = long_text(900, seed=9)
    client = InferenceClient(model=ner_url)
    ours = client.token_classification(text, aggregation_strategy="simple", stride=64)
    assert_same(ours, pipelines["token-classification"](text, aggregation_strategy="simple", stride=64))
    assert max(entity.end for entity in ours) > len(text) // 2, "the second window was read"


def test_long_text_without_stride_gets_400_naming_stride(ner_url: str) -> None:
    response = httpx.post(ner_url, json={"inputs": long_text(900, seed=9)})
    assert response.status_code == 400
    assert "'parameters.stride'" in response.json()["error"]


def test_question_answering_equals_the_run_qa_oracle(qa_url: str, run_qa: Any) -> None:  # noqa: F811
    client = InferenceClient(model=qa_url)
    contexts = [*sentences(5, seed=61, min_words=8, max_words=40), long_text(700, seed=62)]
    questions = sentences(len(contexts), seed=63, min_words=2, max_words=8)
    for question, context in zip(questions, contexts, strict=True):
        answer = client.question_answering(question=question, context=context)
        assert not isinstance(answer, list)
        (best_answer, best_score), *_ = run_qa(question, context)
        assert (answer.answer, context[answer.start : answer.end]) == (best_answer, best_answer)
        assert answer.score == pytest.approx(best_score, abs=SCORE_TOLERANCE)
        spans = client.question_answering(question=question, context=context, top_k=3, max_answer_len=5)
        assert isinstance(spans, list)
        expected = run_qa(question, context, max_answer=5)[:3]
        assert [(s.answer, context[s.start : s.end]) for s in spans] == [(a, a) for a, _ in expected]
        assert [s.score for s in spans] == pytest.approx([p for _, p in expected], abs=SCORE_TOLERANCE)


def test_handle_impossible_answer_lets_the_empty_answer_compete(
    qa_url: str,
    qa_dir: Path,  # noqa: F811
    run_qa: Any,  # noqa: F811
) -> None:
    """The spans keep the oracle's order and relative scores; the empty answer joins them, scored
    by the [CLS] start + end logits read from the model directly."""
    from transformers import AutoTokenizer, BertForQuestionAnswering

    tokenizer = AutoTokenizer.from_pretrained(qa_dir)
    model = BertForQuestionAnswering.from_pretrained(qa_dir).eval()
    client = InferenceClient(model=qa_url)
    for question, context in zip(sentences(6, seed=64), sentences(6, seed=65, min_words=6), strict=True):
        spans = client.question_answering(
            question=question, context=context, top_k=30, handle_impossible_answer=True
        )
        assert isinstance(spans, list)
        (empty,) = [s for s in spans if s.answer == ""]
        assert (empty.start, empty.end) == (0, 0)
        others = [s for s in spans if s.answer != ""]
        expected = run_qa(question, context)[: len(others)]
        assert [s.answer for s in others] == [answer for answer, _ in expected]
        ratios = [s.score / others[0].score for s in others]
        assert ratios == pytest.approx([p / expected[0][1] for _, p in expected], rel=1e-3)

        encoding = tokenizer(question, context, return_offsets_mapping=True, return_tensors="pt")
        offsets = encoding.pop("offset_mapping")[0].tolist()
        in_context = [k for k, segment in enumerate(encoding.sequence_ids(0)) if segment == 1]
        with torch.inference_mode():
            output = model(**encoding)
        starts, ends = output.start_logits[0].tolist(), output.end_logits[0].tolist()
        best = others[0]
        first = next(k for k in in_context if offsets[k][0] == best.start)
        last = next(k for k in in_context if offsets[k][1] == best.end)
        gap = (starts[0] + ends[0]) - (starts[first] + ends[last])
        assert empty.score / best.score == pytest.approx(math.exp(gap), rel=1e-3)


def test_a_list_of_questions_gets_a_list_of_answers(qa_url: str, run_qa: Any) -> None:  # noqa: F811
    rows = list(zip(sentences(3, seed=66), sentences(3, seed=67, min_words=6), strict=True))
    body = {"inputs": [{"question": q, "context": c} for q, c in rows]}
    answers = httpx.post(qa_url, json=body).json()
    assert [answer["answer"] for answer in answers] == [run_qa(q, c)[0][0] for q, c in rows]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "must be a JSON object"),
        ({"input": "x"}, "Unknown field 'input'"),
        ({"parameters": {}}, "Missing 'inputs'"),
        ({"inputs": []}, "'inputs' is empty"),
        ({"inputs": 3}, "'inputs' must be a string"),
        ({"inputs": ["a [MASK]", 3]}, "'inputs[1]' must be a string"),
        ({"inputs": "no mask here"}, "has no mask"),
        ({"inputs": "a [MASK]", "parameters": {"top_k": 0}}, "'parameters.top_k'"),
        ({"inputs": "a [MASK]", "parameters": {"top_k": "3"}}, "'parameters.top_k'"),
        (
            {"inputs": "a [MASK]", "parameters": {"temperature": 1}},
            "Unknown parameter 'parameters.temperature'",
        ),
        ({"inputs": "a [MASK]", "parameters": {"targets": 3}}, "'parameters.targets"),
        ({"inputs": "a [MASK]", "parameters": ["top_k"]}, "'parameters' must be an object"),
        ({"inputs": {"text": "a"}}, "Missing 'inputs.text_pair'"),
        ({"inputs": [{"text": "a", "text_pair": 1}]}, "'inputs[0].text_pair'"),
        ({"inputs": {"text": "a", "text_pair": "b", "c": "d"}}, "'inputs.c'"),
    ],
)
def test_bad_bodies_get_400_naming_the_field(pretraining_url: str, body: Any, fragment: str) -> None:
    response = httpx.post(pretraining_url, json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


@pytest.mark.parametrize(
    ("url_fixture", "body", "fragment"),
    [
        (
            "ner_url",
            {"inputs": "a b", "parameters": {"aggregation_strategy": "longest"}},
            "aggregation_strategy",
        ),
        ("ner_url", {"inputs": "a b", "parameters": {"aggregation_strategy": "none", "stride": 8}}, "stride"),
        ("ner_url", {"inputs": "a b", "parameters": {"stride": 600}}, "'parameters.stride' is 600"),
        ("ner_url", {"inputs": {"text": "a"}}, "'inputs' must be a string"),
        ("classifier_url", {"inputs": "a", "parameters": {"function_to_apply": "tanh"}}, "function_to_apply"),
        ("classifier_url", {"inputs": [{"txt": "a"}]}, "Missing 'inputs[0].text'"),
        ("classifier_url", {"inputs": [{"text": "a", "txt": "b"}]}, "'inputs[0].txt'"),
        ("qa_url", {"inputs": {"question": "q"}}, "Missing 'inputs.context'"),
        ("qa_url", {"inputs": {"question": " ", "context": "c"}}, "'inputs.question' is empty"),
        ("qa_url", {"inputs": "q"}, "'inputs' must be an object with 'question' and 'context'"),
        (
            "qa_url",
            {"inputs": {"question": "q", "context": "c"}, "parameters": {"max_seq_len": 64}},
            "doc_stride",
        ),
        (
            "qa_url",
            {"inputs": {"question": "q", "context": "c"}, "parameters": {"align_to_words": True}},
            "Unknown parameter 'parameters.align_to_words'",
        ),
    ],
)
def test_bad_task_inputs_get_400_naming_the_field(
    request: pytest.FixtureRequest, url_fixture: str, body: Any, fragment: str
) -> None:
    response = httpx.post(request.getfixturevalue(url_fixture), json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_the_api_key_is_required_when_set(pretraining_url: str) -> None:
    text = masked(1, seed=7)[0]
    with pytest.raises(HfHubHTTPError) as refused:
        InferenceClient(model=pretraining_url, token="wrong").fill_mask(text)
    assert refused.value.response.status_code == 401
    assert httpx.post(pretraining_url, json={"inputs": text}).status_code == 401
    assert InferenceClient(model=pretraining_url, api_key=API_KEY).fill_mask(text)


def test_the_client_exception_carries_the_servers_message(fill_mask_client: InferenceClient) -> None:
    with pytest.raises(HfHubHTTPError) as refused:
        fill_mask_client.fill_mask("A sentence without a mask.")
    assert refused.value.response.status_code == 400
    assert "Input 0 has no mask" in str(refused.value), "huggingface_hub reads the 'error' key"


def test_answers_carry_the_request_id_and_count_in_the_metrics(classifier_url: str) -> None:
    response = httpx.post(classifier_url, json={"inputs": "i am happy"}, headers={"x-request-id": "hf-abc"})
    assert (response.status_code, response.headers["x-request-id"]) == (200, "hf-abc")
    metrics = httpx.get(f"{classifier_url}/metrics").text
    assert 'method="POST",route="/",status="200"' in metrics


def test_get_root_stays_azures_liveness(pretraining_url: str) -> None:
    response = httpx.get(pretraining_url)
    assert (response.status_code, response.text) == (200, "Healthy")


def test_openapi_documents_post_root_with_an_example_per_task(classifier_url: str) -> None:
    operation = httpx.get(f"{classifier_url}/openapi.json").json()["paths"]["/"]["post"]
    assert operation["tags"] == ["huggingface"]
    content = operation["requestBody"]["content"]["application/json"]
    assert {"fill-mask", "token-classification", "question-answering", "next-sentence-prediction"} <= set(
        content["examples"]
    )
    assert "$ref" not in str(content["schema"]), "the inline schema must stand alone"
