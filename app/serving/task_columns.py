"""What each task reads from a request given as named columns of texts (/score's forms, /v2's named
tensors): its columns, its cells and its parameters.

Parameters are validated by the core task models (`app.serving.task_parameters`), cells by the shared
cell types; each error becomes one message naming the field and the input. A body shaped for another
task gets a 400 that says what this model expects.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from app.config import TaskName
from app.errors import InvalidRequestError
from app.serving.task_parameters import TaskParameters, parse_parameters
from app.serving.validation import NerCell, NonBlankText, Text, json_type, reject_unknown
from app.tasks.token_classification import Words

# columns: one list per column; split: pandas' split orient; list: a plain list; strings: one row
# given as strings. A plain list (or one row of strings) is answered with a plain list.
Form = Literal["columns", "split", "list", "strings"]


@dataclass(frozen=True)
class RequestTable:
    """The payload as columns of cells, whatever form it came in."""

    payload_key: str
    columns: dict[str, list[Any]]
    form: Form
    parameters: dict[str, Any] = field(default_factory=dict)
    parameters_where: dict[str, str] = field(default_factory=dict)  # parameter -> the block it came from

    @property
    def plain(self) -> bool:
        return self.form in ("list", "strings")

    def where(self, column: str) -> str:
        if self.form == "list":
            return self.payload_key
        if self.form == "split":
            return f"{self.payload_key}.data"
        return f"{self.payload_key}.{column}"


# Column names a task reads, first is the default. Classification and NSP read any names.
TEXT_COLUMNS = ("input_string", "text")
NER_COLUMNS = ("input_string", "text", "tokens")
QA_COLUMNS = ("question", "context")
EXPECTS: dict[TaskName, str] = {
    "fill-mask": "This model fills masks: send one column 'input_string' of texts with [MASK], "
    'e.g. {"input_data": {"input_string": ["Paris is the [MASK] of France."]}}.',
    "text-classification": "This model classifies texts: send one column of texts (e.g. 'input_string'), "
    "or two columns for sentence pairs.",
    "token-classification": "This model tags named entities: send one column 'input_string' of texts "
    "(tagged word by word), or 'tokens' of lists of words.",
    "question-answering": "This model answers questions: send 'question' and 'context' columns, e.g. "
    '{"input_data": {"question": ["Where ...?"], "context": ["..."]}}.',
    "next-sentence-prediction": "This model predicts whether a sentence follows another: send two "
    "columns, e.g. 'sentence1' and 'sentence2'.",
    "feature-extraction": "This model embeds texts: send one column 'input_string' of texts, e.g. "
    '{"input_data": {"input_string": ["Paris is the capital of France."]}}.',
}
TEXTS = TypeAdapter(list[Text])
NON_BLANK_TEXTS = TypeAdapter(list[NonBlankText])
NER_CELL: TypeAdapter[str | list[str]] = TypeAdapter(NerCell)
NSP_COLUMN_NAMES = (("sentence1", "sentence2"), ("text", "text_pair"))


@dataclass(frozen=True)
class TaskRequest:
    task: TaskName
    examples: list[Any]
    parameters: TaskParameters
    table: RequestTable

    @property
    def with_scores(self) -> bool:
        return self.parameters.with_scores

    @property
    def options(self) -> Any:
        return self.parameters.to_options(self.task)


def choose_task(table: RequestTable, tasks: list[TaskName], unavailable: list[TaskName]) -> TaskName:
    """A checkpoint that fills masks may also predict next sentences: two columns mean NSP."""
    if "next-sentence-prediction" in tasks and "fill-mask" in tasks:
        return "next-sentence-prediction" if len(table.columns) == 2 else "fill-mask"
    if "next-sentence-prediction" in unavailable and tuple(table.columns) in NSP_COLUMN_NAMES:
        return "next-sentence-prediction"
    return tasks[0]


def parse_task_request(table: RequestTable, task: TaskName, max_top_k: int) -> TaskRequest:
    reader = READERS[task]
    parameters = parse_parameters(task, table.parameters, table.parameters_where, max_top_k)
    return TaskRequest(task, reader(table), parameters, table)


def _column(table: RequestTable, names: tuple[str, ...], task: TaskName) -> tuple[str, list[Any]]:
    """The task's one text column, checked to be a non-empty list."""
    if not table.columns:
        raise InvalidRequestError(
            f"Missing '{table.payload_key}.{names[0]}': a list of texts. {EXPECTS[task]}"
        )
    name = next(iter(table.columns))
    if name not in names or len(table.columns) > 1:
        known = (name,) if name in names else names
        unknown = next(column for column in table.columns if column not in known)
        expected = ", ".join(f"'{column}'" for column in known)
        raise InvalidRequestError(
            f"Unknown field '{unknown}' in '{table.payload_key}'; expected {expected}. {EXPECTS[task]}"
        )
    cells = table.columns[name]
    where = table.where(name)
    if table.form == "strings" and task == "fill-mask":  # one row of strings is for pair tasks
        raise InvalidRequestError(f"'{where}' must be a list of strings; got a string.")
    if not isinstance(cells, list):
        raise InvalidRequestError(f"'{where}' must be a list of strings; got {json_type(cells)}.")
    if not cells:
        hint = " with [MASK]" if task == "fill-mask" else ""
        raise InvalidRequestError(f"'{where}' is empty: send at least one text{hint}.")
    return name, cells


def _strings(cells: list[Any], column: str | None = None, non_empty: bool = False) -> list[str]:
    """Every cell a string (and not blank, where asked), validated by the schemas' cell types."""
    adapter = NON_BLANK_TEXTS if non_empty else TEXTS
    try:
        texts: list[str] = adapter.validate_python(cells)
    except ValidationError as exc:
        error = exc.errors()[0]
        index = error["loc"][0]
        field = f": '{column}'" if column else ""
        if error["type"] == "value_error":
            raise InvalidRequestError(f"Input {index}{field} is empty.") from None
        raise InvalidRequestError(
            f"Input {index}{field} must be a string; got {json_type(error['input'])}."
        ) from None
    return texts


def _columns(table: RequestTable, count: int, task: TaskName) -> list[tuple[str, list[Any]]]:
    if len(table.columns) != count:
        raise InvalidRequestError(
            f"'{table.payload_key}' has {len(table.columns)} columns {list(table.columns)}. {EXPECTS[task]}"
        )
    lengths = {name: len(cells) if isinstance(cells, list) else None for name, cells in table.columns.items()}
    for name, cells in table.columns.items():
        if not isinstance(cells, list):
            raise InvalidRequestError(
                f"'{table.where(name)}' must be a list of strings; got {json_type(cells)}."
            )
    if len(set(lengths.values())) > 1:
        raise InvalidRequestError(f"The columns of '{table.payload_key}' differ in length: {lengths}.")
    if not next(iter(lengths.values())):
        raise InvalidRequestError(f"'{table.payload_key}' is empty: send at least one row.")
    return list(table.columns.items())


def read_fill_mask(table: RequestTable) -> list[str]:
    _, cells = _column(table, TEXT_COLUMNS, "fill-mask")
    return _strings(cells)


def read_feature_extraction(table: RequestTable) -> list[str]:
    _, cells = _column(table, TEXT_COLUMNS, "feature-extraction")
    return _strings(cells)


def read_classification(table: RequestTable) -> list[tuple[str, str | None]]:
    if "question" in table.columns or "context" in table.columns:
        raise InvalidRequestError(EXPECTS["text-classification"] + " 'question'/'context' are for QA models.")
    if len(table.columns) == 1:
        _, cells = _column(table, tuple(table.columns), "text-classification")
        return [(text, None) for text in _strings(cells)]
    (first, texts), (second, pairs) = _columns(table, 2, "text-classification")
    return list(zip(_strings(texts, first), _strings(pairs, second), strict=True))


def read_next_sentence(table: RequestTable) -> list[tuple[str, str]]:
    (first, texts), (second, pairs) = _columns(table, 2, "next-sentence-prediction")
    return list(zip(_strings(texts, first), _strings(pairs, second), strict=True))


def read_token_classification(table: RequestTable) -> list[Any]:
    name, cells = _column(table, NER_COLUMNS, "token-classification")
    examples = []
    for index, cell in enumerate(cells):
        try:
            value = NER_CELL.validate_python(cell)
        except ValidationError:
            raise InvalidRequestError(
                f"Input {index} in '{table.where(name)}' must be a string, or a list of non-empty "
                f"strings (tokens); got {json_type(cell)}."
            ) from None
        examples.append(Words.from_text(value) if isinstance(value, str) else Words.from_tokens(value))
    return examples


def read_question_answering(table: RequestTable) -> list[tuple[str, str]]:
    if set(table.columns) != set(QA_COLUMNS):
        missing = [name for name in QA_COLUMNS if name not in table.columns]
        if missing:
            raise InvalidRequestError(f"Missing column '{missing[0]}'. {EXPECTS['question-answering']}")
        reject_unknown(table.columns, QA_COLUMNS, f"'{table.payload_key}'")
    columns = dict(_columns(table, 2, "question-answering"))
    questions = _strings(columns["question"], "question", non_empty=True)
    contexts = _strings(columns["context"], "context", non_empty=True)
    return list(zip(questions, contexts, strict=True))


READERS: dict[TaskName, Callable[[RequestTable], list[Any]]] = {
    "fill-mask": read_fill_mask,
    "text-classification": read_classification,
    "token-classification": read_token_classification,
    "question-answering": read_question_answering,
    "next-sentence-prediction": read_next_sentence,
    "feature-extraction": read_feature_extraction,
}
