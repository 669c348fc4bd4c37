"""The Open Inference Protocol's tensor codec and request decoding, as pure functions: round trips
with tritonclient's own serializer, and every malformed body a clear error."""

import gzip
import json
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from app.errors import InvalidRequestError, PayloadTooLargeError
from app.model_source import ModelSource
from app.repository.specs import default_model_name
from app.serving.open_inference.codec import inflate, split_body
from app.serving.open_inference.infer_request import decode_request
from app.serving.open_inference_core.elements import (
    Tensor,
    decode_bytes_elements,
    encode_binary,
    flatten,
    json_values,
)
from app.serving.open_inference_core.requests import RequestedOutput
from app.serving.open_inference_core.task_tensors import (
    check_inputs,
    output_tensors,
    request_table,
    requested_outputs,
)
from app.tasks.base import Scored
from app.tasks.fill_mask import Candidate
from app.tasks.question_answering import Span
from app.tasks.token_classification import WordTag

TEXTS = ["Paris is the [MASK] of France.", "", "naïve 東京 🙂", "a" * 300]


def binary_body(header: dict[str, Any], *tensors: bytes) -> tuple[bytes, str]:
    encoded = json.dumps(header).encode()
    return encoded + b"".join(tensors), str(len(encoded))


def text_input(texts: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": "text", "shape": [len(texts)], "datatype": "BYTES", **extra}


def test_bytes_elements_round_trip_with_tritonclients_serializer() -> None:
    raw = serialize_byte_tensor(np.array(TEXTS, dtype=object)).item()
    assert [element.decode() for element in decode_bytes_elements(raw, "x")] == TEXTS
    ours = encode_binary(Tensor("t", "BYTES", [len(TEXTS)], TEXTS))
    assert [element.decode() for element in deserialize_bytes_tensor(ours)] == TEXTS


def test_numbers_encode_little_endian_and_json_rounds_to_float32() -> None:
    scores = [0.1, 1 / 3, 2.5e-9]
    raw = encode_binary(Tensor("score", "FP32", [3], scores))
    assert np.frombuffer(raw, dtype="<f4").tolist() == json_values(Tensor("score", "FP32", [3], scores))
    assert json_values(Tensor("score", "FP32", [3], scores)) != scores  # rounded, not the float64s
    ids = [2364, -1, 2**40]
    assert np.frombuffer(encode_binary(Tensor("token", "INT64", [3], ids)), dtype="<i8").tolist() == ids


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\x05\x00", "cut off inside its 4-byte length prefix"),
        (struct.pack("<I", 10) + b"abc", "says it is 10 bytes long; only 3 bytes"),
        (struct.pack("<I", 2**32 - 1), "says it is 4294967295 bytes long"),
        (struct.pack("<I", 1) + b"a" + b"\x01", "element 1 is cut off"),
    ],
)
def test_malformed_bytes_elements_are_refused(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidRequestError, match="Input 'text'") as caught:
        decode_bytes_elements(raw, "Input 'text'")
    assert fragment in caught.value.message


def test_gzip_and_deflate_bodies_inflate_within_the_limit() -> None:
    body = json.dumps({"inputs": TEXTS}).encode()
    assert inflate(gzip.compress(body), "gzip", 10_000) == body
    assert inflate(zlib.compress(body), "Deflate", 10_000) == body
    assert inflate(body, None, 10_000) == body
    with pytest.raises(PayloadTooLargeError, match="inflates to over the limit of 1000"):
        inflate(gzip.compress(b"0" * 1_000_000), "gzip", 1000)
    with pytest.raises(InvalidRequestError, match="cut short"):
        inflate(gzip.compress(body)[:-10], "gzip", 10_000)
    with pytest.raises(InvalidRequestError, match="cannot be inflated"):
        inflate(b"not gzip", "gzip", 10_000)
    with pytest.raises(InvalidRequestError, match="Unsupported Content-Encoding 'br'"):
        inflate(body, "br", 10_000)


def test_flatten_reads_nested_json_data_in_row_major_order() -> None:
    assert flatten([["a"], ["b", ["c"]], "d"]) == ["a", "b", "c", "d"]
    assert flatten([[[[["deep"]]]]]) == ["deep"]


@pytest.mark.parametrize(
    ("header_length", "fragment"),
    [("abc", "must be a number of bytes"), ("0", "the JSON header is 0 bytes"), ("999", "the body has 5")],
)
def test_header_length_must_lie_inside_the_body(header_length: str, fragment: str) -> None:
    with pytest.raises(InvalidRequestError, match=fragment):
        split_body(b"12345", header_length)


def test_binary_and_json_inputs_decode_to_the_same_texts() -> None:
    raw = serialize_byte_tensor(np.array(TEXTS, dtype=object)).item()
    header = {"inputs": [text_input(TEXTS, parameters={"binary_data_size": len(raw)})]}
    body, length = binary_body(header, raw)
    from_binary = decode_request(body, length)
    from_json = decode_request(json.dumps({"inputs": [text_input(TEXTS, data=TEXTS)]}).encode(), None)
    assert from_binary.texts == from_json.texts == {"text": TEXTS}


def test_two_binary_inputs_take_their_bytes_in_order() -> None:
    questions, contexts = ["Who?", "Where?"], ["Ann went home.", "In Paris."]
    first = serialize_byte_tensor(np.array(questions, dtype=object)).item()
    second = serialize_byte_tensor(np.array(contexts, dtype=object)).item()
    header = {
        "inputs": [
            {
                "name": "question",
                "shape": [2, 1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(first)},
            },
            {
                "name": "context",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(second)},
            },
        ]
    }
    body, length = binary_body(header, first, second)
    assert decode_request(body, length).texts == {"question": questions, "context": contexts}


def test_protocol_parameters_are_separated_from_the_tasks() -> None:
    body = {
        "id": "7",
        "inputs": [text_input(["a [MASK]"], data=["a [MASK]"])],
        "parameters": {"top_k": 3, "binary_data_output": True, "timeout": 5000, "priority": 1},
        "outputs": [{"name": "score"}, {"name": "token_str", "parameters": {"binary_data": False}}],
    }
    decoded = decode_request(json.dumps(body).encode(), None)
    assert decoded.id == "7"
    assert decoded.parameters == {"top_k": 3}
    assert decoded.timeout_us == 5000
    assert [(output.name, output.binary) for output in decoded.outputs or []] == [
        ("score", True),
        ("token_str", False),
    ]


ONE = ["a [MASK]"]
RAW_ONE = serialize_byte_tensor(np.array(ONE, dtype=object)).item()


@pytest.mark.parametrize(
    ("body", "header_length", "fragment"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[]", None, "Invalid inference request"),
        (json.dumps({"inputs": []}).encode(), None, "'inputs'"),
        (json.dumps({"inputs": [text_input(ONE)]}).encode(), None, "has no 'data'"),
        (json.dumps({"inputs": [text_input(ONE, data=[1])]}).encode(), None, "element 0 is a number"),
        (
            json.dumps({"inputs": [text_input(ONE, data=ONE, datatype="FP32")]}).encode(),
            None,
            "must be BYTES",
        ),
        (
            json.dumps({"inputs": [text_input(ONE, data=ONE * 2)]}).encode(),
            None,
            "so 1 elements; its data holds 2",
        ),
        (
            json.dumps({"inputs": [{**text_input(ONE, data=ONE), "shape": [1, 2]}]}).encode(),
            None,
            "shape [N]",
        ),
        (json.dumps({"inputs": [{**text_input([], data=[])}]}).encode(), None, "is empty"),
        (
            json.dumps({"inputs": [{**text_input(ONE, data=ONE), "shape": ["1"]}]}).encode(),
            None,
            "'inputs.0.shape.0'",
        ),
        (json.dumps({"inputs": [text_input(ONE, data=ONE)] * 2}).encode(), None, "given twice"),
        (
            json.dumps({"inputs": [text_input(ONE, data=ONE, parameters={"binary_data_size": 12})]}).encode(),
            None,
            "both 'data' and 'binary_data_size'",
        ),
        (
            json.dumps({"inputs": [text_input(ONE, parameters={"binary_data_size": len(RAW_ONE)})]}).encode()
            + RAW_ONE,
            None,
            "needs the 'Inference-Header-Content-Length' header",
        ),
        (
            *binary_body({"inputs": [text_input(ONE, parameters={"binary_data_size": 99})]}, RAW_ONE),
            "only 12 bytes",
        ),
        (
            *binary_body({"inputs": [text_input(ONE, parameters={"binary_data_size": 4})]}, RAW_ONE),
            "only 0 bytes",
        ),
        (
            *binary_body({"inputs": [text_input(ONE, parameters={"binary_data_size": 12})]}, RAW_ONE, b"xy"),
            "add up to 12",
        ),
        (
            json.dumps({"inputs": [text_input([], parameters={"binary_data_size": 0})]}).encode(),
            None,
            "no 'Inference-Header-Content-Length'",
        ),
        (
            *binary_body({"inputs": [text_input(ONE, parameters={"binary_data_size": "12"})]}, RAW_ONE),
            "a number of bytes",
        ),
        (
            *binary_body({"inputs": [text_input(["a", "b"], parameters={"binary_data_size": 12})]}, RAW_ONE),
            "holds 1",
        ),
        (
            *binary_body(
                {"inputs": [text_input(ONE, parameters={"binary_data_size": 5})]}, b"\x01\x00\x00\x00\xff"
            ),
            "not UTF-8",
        ),
        (
            json.dumps(
                {"inputs": [text_input(ONE, data=ONE)], "parameters": {"binary_data_output": "yes"}}
            ).encode(),
            None,
            "must be true or false",
        ),
        (
            json.dumps({"inputs": [text_input(ONE, data=ONE)], "parameters": {"timeout": -5}}).encode(),
            None,
            "positive number of microseconds",
        ),
        (
            json.dumps(
                {
                    "inputs": [text_input(ONE, data=ONE)],
                    "outputs": [{"name": "label", "parameters": {"classification": 2}}],
                }
            ).encode(),
            None,
            "classification extension",
        ),
    ],
)
def test_malformed_requests_are_refused_naming_the_fault(
    body: bytes, header_length: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        decode_request(body, header_length)
    assert fragment in caught.value.message


def test_one_input_of_another_name_is_read_as_text_as_kserve_reads_its_first_input() -> None:
    table = request_table({"input-0": ["a [MASK]"]}, {}, max_inputs=10)
    assert list(table.columns) == ["text"]
    check_inputs("fill-mask", table)


def test_text_is_read_before_text_pair_whatever_the_request_order() -> None:
    table = request_table({"text_pair": ["second"], "text": ["first"]}, {}, max_inputs=10)
    assert list(table.columns) == ["text", "text_pair"]


@pytest.mark.parametrize(
    ("task", "texts", "fragment"),
    [
        ("question-answering", {"question": ["Who?"]}, "Missing input 'context'"),
        ("question-answering", {"question": ["Who?"], "context": ["A.", "B."]}, "differ in length"),
        ("next-sentence-prediction", {"text": ["A."], "other": ["B."]}, "Unknown input 'other'"),
    ],
)
def test_inputs_must_be_the_tasks(task: Any, texts: dict[str, list[str]], fragment: str) -> None:
    with pytest.raises(InvalidRequestError, match=fragment):
        check_inputs(task, request_table(texts, {}, max_inputs=10))


def test_too_many_texts_are_413() -> None:
    with pytest.raises(PayloadTooLargeError, match="limit is 2"):
        request_table({"text": ["a", "b", "c"]}, {}, max_inputs=2)


def test_unknown_output_is_refused_before_compute() -> None:
    asked = [RequestedOutput("score", True), RequestedOutput("label", False)]
    with pytest.raises(
        InvalidRequestError, match="Unknown output 'label': fill-mask answers token_str, token, score"
    ):
        requested_outputs("fill-mask", asked, binary_default=False)
    assert [output.name for output in requested_outputs("fill-mask", None, False)] == [
        "token_str",
        "token",
        "score",
    ]


def test_fill_mask_answers_pad_to_the_most_masks_and_candidates() -> None:
    one_mask = [[Candidate("capital", 5, 0.9), Candidate("city", 6, 0.1)]]
    two_masks = [[Candidate("man", 7, 0.5)], [Candidate("floor", 8, 0.4), Candidate("mat", 9, 0.3)]]
    tensors = output_tensors("fill-mask", [one_mask, two_masks])
    assert tensors["token_str"].shape == [2, 2, 2]
    assert tensors["token_str"].values == ["capital", "city", "", "", "man", "", "floor", "mat"]
    assert tensors["token"].values == [5, 6, -1, -1, 7, -1, 8, 9]
    assert tensors["score"].values == [0.9, 0.1, 0.0, 0.0, 0.5, 0.0, 0.4, 0.3]


def test_ner_qa_and_label_answers_become_one_tensor_per_field() -> None:
    tags = [
        [WordTag("EU", "B-ORG", 0.9, 0, 2)],
        [WordTag("I", "O", 0.8, 0, 1), WordTag("ran", "O", 0.7, 2, 5)],
    ]
    ner = output_tensors("token-classification", tags)
    assert ner["entity"].shape == [2, 2] and ner["entity"].values == ["B-ORG", "", "O", "O"]
    assert ner["start"].values == [0, -1, 0, 2] and ner["end"].values == [2, -1, 1, 5]
    qa = output_tensors("question-answering", [[Span("Kenya", 0.7, 30, 35), Span("", 0.3, 0, 0)]])
    assert qa["answer"].values == ["Kenya", ""] and qa["start"].values == [30, 0]
    labels = output_tensors("next-sentence-prediction", [[Scored("IsNext", 0.6)], [Scored("NotNext", 0.9)]])
    assert labels["label"].shape == [2, 1] and labels["label"].values == ["IsNext", "NotNext"]


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("bert-base-cased", "bert-base-cased"),
        ("google-bert/bert-base-cased", "bert-base-cased"),
        ("/models/emotion/", "emotion"),
    ],
)
def test_the_default_model_name_is_the_hub_or_folder_name(source: str, name: str) -> None:
    assert default_model_name(ModelSource.single(source)) == name
