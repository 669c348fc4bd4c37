"""Each task's tensors: the named inputs it reads and the outputs it answers, for the model
metadata and for mapping an infer request onto the task and its answers onto tensors.

Input names are MLServer's HuggingFace runtime's where it has them (`question`, `context`) and
`text` (`text_pair` for a second text) elsewhere; a request with one input of another name (KServe's
huggingfaceserver reads its first input, `input-0`, MLServer's `args`) is read as `text`. Outputs
are the fields of the tasks' own result records (`Candidate`, `Scored`, `WordTag`, `Span`), one
tensor per field, one row per input:

- fill-mask: `token_str`, `token`, `score`, shape [N, masks, top_k]
- text-classification and next-sentence-prediction: `label`, `score`, shape [N, top_k]
- token-classification: `word`, `entity`, `score`, `start`, `end`, shape [N, words]
- question-answering: `answer`, `score`, `start`, `end`, shape [N, top_k]
- feature-extraction: `embedding`, FP32, shape [N, dimensions]

Rows of different lengths (inputs with fewer masks, words or spans than the longest) are padded
with "" for strings, 0 for scores and -1 for ids and offsets.
"""

from dataclasses import dataclass
from typing import Any

from app.config import TaskName
from app.errors import InvalidRequestError
from app.serving.jobs import check_input_count
from app.serving.open_inference_core.elements import Datatype, Tensor
from app.serving.open_inference_core.metadata import MetadataTensor
from app.serving.open_inference_core.requests import RequestedOutput
from app.serving.task_columns import RequestTable


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: Datatype
    rank: int = 1
    optional: bool = False

    def metadata(self, task: TaskName) -> MetadataTensor:
        parameters: dict[str, str | bool] = {"task": task}
        if self.datatype == "BYTES":
            parameters["content_type"] = "str"
        if self.optional:
            parameters["optional"] = True
        return MetadataTensor(
            name=self.name, datatype=self.datatype, shape=[-1] * self.rank, parameters=parameters
        )


TEXT = TensorSpec("text", "BYTES")
TEXT_PAIR = TensorSpec("text_pair", "BYTES")
INPUTS: dict[TaskName, tuple[TensorSpec, ...]] = {
    "fill-mask": (TEXT,),
    "text-classification": (TEXT, TensorSpec("text_pair", "BYTES", optional=True)),
    "token-classification": (TEXT,),
    "question-answering": (TensorSpec("question", "BYTES"), TensorSpec("context", "BYTES")),
    "next-sentence-prediction": (TEXT, TEXT_PAIR),
    "feature-extraction": (TEXT,),
}
LABELS = (TensorSpec("label", "BYTES", 2), TensorSpec("score", "FP32", 2))
OUTPUTS: dict[TaskName, tuple[TensorSpec, ...]] = {
    "fill-mask": (
        TensorSpec("token_str", "BYTES", 3),
        TensorSpec("token", "INT64", 3),
        TensorSpec("score", "FP32", 3),
    ),
    "text-classification": LABELS,
    "next-sentence-prediction": LABELS,
    "token-classification": (
        TensorSpec("word", "BYTES", 2),
        TensorSpec("entity", "BYTES", 2),
        TensorSpec("score", "FP32", 2),
        TensorSpec("start", "INT64", 2),
        TensorSpec("end", "INT64", 2),
    ),
    "question-answering": (
        TensorSpec("answer", "BYTES", 2),
        TensorSpec("score", "FP32", 2),
        TensorSpec("start", "INT64", 2),
        TensorSpec("end", "INT64", 2),
    ),
    "feature-extraction": (TensorSpec("embedding", "FP32", 2),),
}
# The order texts are read in (text before text_pair), whatever order the request lists them.
INPUT_ORDER = ("text", "text_pair", "question", "context")
PADDING: dict[Datatype, Any] = {"BYTES": "", "FP32": 0.0, "INT64": -1}


def metadata_tensors(tasks: list[TaskName]) -> tuple[list[MetadataTensor], list[MetadataTensor]]:
    """(inputs, outputs) of every served task, each tagged with its task."""
    inputs = [spec.metadata(task) for task in tasks for spec in INPUTS[task]]
    outputs = [spec.metadata(task) for task in tasks for spec in OUTPUTS[task]]
    return inputs, outputs


def request_table(texts: dict[str, list[str]], parameters: dict[str, Any], max_inputs: int) -> RequestTable:
    """The request as the columns /score's task readers take, so both validate texts and
    parameters alike."""
    if len(texts) == 1 and next(iter(texts)) not in INPUT_ORDER:
        texts = {"text": next(iter(texts.values()))}
    for name, column in texts.items():
        check_input_count(name, len(column), max_inputs)
    known = [name for name in INPUT_ORDER if name in texts]
    columns = {name: texts[name] for name in known + [name for name in texts if name not in known]}
    return RequestTable("inputs", columns, "columns", parameters, dict.fromkeys(parameters, "parameters"))


def check_inputs(task: TaskName, table: RequestTable) -> None:
    """The task's inputs, each present (unless optional), none unknown, all of one length."""
    specs = INPUTS[task]
    expected = ", ".join(f"'{spec.name}'" for spec in specs)
    for name in table.columns:
        if name not in {spec.name for spec in specs}:
            raise InvalidRequestError(f"Unknown input '{name}': {task} reads {expected} (BYTES, shape [-1]).")
    for spec in specs:
        if spec.name not in table.columns and not spec.optional:
            raise InvalidRequestError(
                f"Missing input '{spec.name}': {task} reads {expected} (BYTES, shape [-1])."
            )
    lengths = {name: len(column) for name, column in table.columns.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidRequestError(f"The inputs differ in length: {lengths}; send one text of each per row.")


def requested_outputs(
    task: TaskName, outputs: list[RequestedOutput] | None, binary_default: bool
) -> list[RequestedOutput]:
    """The outputs to answer, checked before any compute: those asked for, or all."""
    names = [spec.name for spec in OUTPUTS[task]]
    if outputs is None:
        return [RequestedOutput(name, binary_default) for name in names]
    for output in outputs:
        if output.name not in names:
            raise InvalidRequestError(f"Unknown output '{output.name}': {task} answers {', '.join(names)}.")
    return outputs


def output_tensors(task: TaskName, answers: list[Any]) -> dict[str, Tensor]:
    """Each output field of every answer's result records as one padded, row-major tensor."""
    if task == "feature-extraction":  # one vector per input, all of one length
        vectors = [embedding.vector for embedding in answers]
        flat = [value for vector in vectors for value in vector]
        return {"embedding": Tensor("embedding", "FP32", [len(vectors), len(vectors[0])], flat)}
    rows = answers
    extent = _extent(rows, OUTPUTS[task][0].rank - 1)
    tensors = {}
    for spec in OUTPUTS[task]:
        values: list[Any] = []
        for row in rows:
            values += _cells(row, extent, spec.name, PADDING[spec.datatype])
        tensors[spec.name] = Tensor(spec.name, spec.datatype, [len(rows), *extent], values)
    return tensors


def _extent(rows: list[Any], depth: int) -> list[int]:
    """The longest list at each nesting level below the rows (masks, then candidates)."""
    extent = []
    level = rows
    for _ in range(depth):
        extent.append(max(len(items) for items in level))
        level = [item for items in level for item in items]
    return extent


def _cells(items: list[Any], extent: list[int], field: str, padding: Any) -> list[Any]:
    cells: list[Any] = []
    if len(extent) == 1:
        cells = [getattr(item, field) for item in items]
    else:
        for item in items:
            cells += _cells(item, extent[1:], field, padding)
    size = 1
    for dimension in extent:
        size *= dimension
    return cells + [padding] * (size - len(cells))
