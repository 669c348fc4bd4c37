"""Wire models of the Open Inference Protocol's REST API, as KServe's `rest_predict_v2.yaml` and
Triton define them: the infer request's JSON (header) is validated with them, and the OpenAPI
page shows them with examples. Extra fields are ignored, as KServe's own models ignore them
(Triton's examples send `model_name` in the body).
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictInt, StrictStr
from pydantic.config import JsonDict

from app.serving.open_inference_core.metadata import MetadataTensor

Parameters = dict[str, JsonValue]
Dimension = Annotated[StrictInt, Field(ge=0)]

FILL_MASK_REQUEST_EXAMPLE: JsonDict = {
    "id": "42",
    "inputs": [
        {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["Paris is the [MASK] of France."]}
    ],
    "parameters": {"top_k": 2},
}
FILL_MASK_RESPONSE_EXAMPLE: JsonDict = {
    "model_name": "bert-base-cased",
    "model_version": "1",
    "id": "42",
    "parameters": {"task": "fill-mask"},
    "outputs": [
        {"name": "token_str", "shape": [1, 1, 2], "datatype": "BYTES", "data": ["capital", "centre"]},
        {"name": "token", "shape": [1, 1, 2], "datatype": "INT64", "data": [2364, 2642]},
        {"name": "score", "shape": [1, 1, 2], "datatype": "FP32", "data": [0.9971, 0.0007]},
    ],
}
QUESTION_ANSWERING_REQUEST_EXAMPLE: JsonDict = {
    "inputs": [
        {"name": "question", "shape": [1], "datatype": "BYTES", "data": ["Where is Mount Kenya?"]},
        {"name": "context", "shape": [1], "datatype": "BYTES", "data": ["Mount Kenya is in Kenya."]},
    ],
    "outputs": [{"name": "answer"}, {"name": "score"}],
}


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class ModelMetadata(BaseModel):
    """Every served task's inputs and outputs; a checkpoint that fills masks and predicts next
    sentences lists both, each tensor tagged with its task."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "bert-base-cased",
                    "versions": ["1"],
                    "platform": "pytorch",
                    "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
                    "outputs": [
                        {"name": "token_str", "datatype": "BYTES", "shape": [-1, -1, -1]},
                        {"name": "token", "datatype": "INT64", "shape": [-1, -1, -1]},
                        {"name": "score", "datatype": "FP32", "shape": [-1, -1, -1]},
                    ],
                }
            ]
        }
    )

    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class RequestInput(BaseModel):
    name: StrictStr
    shape: list[Dimension] = Field(description="[N] (or [N, 1]): N texts.")
    datatype: StrictStr = Field(description="BYTES.")
    parameters: Parameters | None = Field(
        default=None, description="`binary_data_size`: the tensor's bytes follow the JSON header."
    )
    data: list[JsonValue] | None = Field(default=None, description="The strings, flat or nested row-major.")


class RequestOutput(BaseModel):
    name: StrictStr
    parameters: Parameters | None = Field(
        default=None, description="`binary_data: true`: answer this output in binary after the JSON."
    )


class InferenceRequest(BaseModel):
    """A JSON body, or (binary tensor data extension) a JSON header of `Inference-Header-Content-Length`
    bytes followed by the inputs' raw bytes, BYTES elements each prefixed by a 4-byte little-endian
    length."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [FILL_MASK_REQUEST_EXAMPLE, QUESTION_ANSWERING_REQUEST_EXAMPLE]}
    )

    id: StrictStr | None = None
    parameters: Parameters | None = Field(
        default=None,
        description="The task's parameters as on /score (`top_k`; QA: `max_answer_len`, `doc_stride`), "
        "and the protocol's `binary_data_output` and `timeout` (microseconds).",
    )
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = Field(default=None, description="Unset: every output.")


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, int] | None = None
    data: list[JsonValue] | None = None


class InferenceResponse(BaseModel):
    model_config = ConfigDict(
        protected_namespaces=(), json_schema_extra={"examples": [FILL_MASK_RESPONSE_EXAMPLE]}
    )

    model_name: str
    model_version: str
    id: str = Field(description="The request's `id`, else the request id of the x-request-id header.")
    parameters: dict[str, str] | None = None
    outputs: list[ResponseOutput]
