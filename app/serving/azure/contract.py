"""The envelope of a /score body, for every task: which key holds the payload, its columns, its
parameters. Which columns a task needs, and what its cells must be, is `app.serving.task_columns`.

Azure ML's scorers accept:
- column form: `{"input_data": {"input_string": [...]}}`, `{"inputs": {"question": [...], "context": [...]}}`
- pandas split form: `{"input_data": {"columns": [...], "index": [...], "data": [[...], ...]}}`
- a plain list: `{"input_data": [...]}` (strings; or pairs as lists, or rows as objects)
- one row of strings: `{"input_data": {"question": "...", "context": "..."}}`
with `parameters` (or `params`) at the top level or inside the payload.
Every rejection names the field, and for a bad input its index, so a client can fix it.
"""

from typing import Any

from app.errors import InvalidRequestError
from app.serving.jobs import check_input_count
from app.serving.task_columns import RequestTable
from app.serving.validation import json_type, reject_unknown

PAYLOAD_KEYS = ("input_data", "inputs")
PARAMETER_KEYS = ("parameters", "params")
SPLIT_KEYS = ("columns", "index", "data")
EXAMPLE = '{"input_data": {"input_string": ["Paris is the [MASK] of France."]}}'


def parse_request_table(body: object, max_inputs: int | None = None) -> RequestTable:
    if not isinstance(body, dict):
        raise InvalidRequestError(f"The body must be a JSON object such as {EXAMPLE}; got {json_type(body)}.")
    reject_unknown(body, PAYLOAD_KEYS + PARAMETER_KEYS, "the body")
    present = [key for key in PAYLOAD_KEYS if key in body]
    if not present:
        raise InvalidRequestError(f"Missing 'input_data' (or 'inputs'): send {EXAMPLE}.")
    if len(present) > 1:
        raise InvalidRequestError("Send either 'input_data' or 'inputs', not both.")
    key = present[0]
    payload = body[key]
    parameter_blocks = [(name, body[name]) for name in PARAMETER_KEYS if name in body]

    if isinstance(payload, list):
        columns, form = _plain_list_columns(payload, key), "list"
    elif isinstance(payload, dict):
        parameter_blocks += [(f"{key}.{name}", payload[name]) for name in PARAMETER_KEYS if name in payload]
        fields = {name: value for name, value in payload.items() if name not in PARAMETER_KEYS}
        if "columns" in fields and "data" in fields:
            columns, form = _split_columns(fields, key), "split"
        elif fields and all(isinstance(value, str) for value in fields.values()):
            columns, form = {name: [value] for name, value in fields.items()}, "strings"
        else:
            columns, form = fields, "columns"
    else:
        raise InvalidRequestError(
            f"'{key}' must be an object with 'input_string' or a list of strings; got {json_type(payload)}."
        )
    if max_inputs is not None:
        for name, cells in columns.items():
            if isinstance(cells, list):
                check_input_count(key if form == "list" else f"{key}.{name}", len(cells), max_inputs)
    parameters, parameters_where = _merge_parameters(parameter_blocks)
    return RequestTable(key, columns, form, parameters, parameters_where)  # type: ignore[arg-type]


def _plain_list_columns(items: list[Any], key: str) -> dict[str, list[Any]]:
    """Strings are one column; lists of equal length are rows of positional columns; objects are
    rows of named columns."""
    if items and all(isinstance(item, list) for item in items):
        width = len(items[0])
        for index, item in enumerate(items):
            if len(item) != width:
                raise InvalidRequestError(
                    f"Input {index} in '{key}' has {len(item)} cells; input 0 has {width}."
                )
        return {str(column): [item[column] for item in items] for column in range(width)}
    if items and all(isinstance(item, dict) for item in items):
        names = list(items[0])
        for index, item in enumerate(items):
            if list(item) != names:
                raise InvalidRequestError(
                    f"Input {index} in '{key}' has fields {list(item)}; input 0 has {names}."
                )
        return {name: [item[name] for item in items] for name in names}
    return {"input_string": items}


def _split_columns(fields: dict[str, Any], key: str) -> dict[str, list[Any]]:
    reject_unknown(fields, SPLIT_KEYS, f"'{key}' (pandas split form)")
    names, rows = fields["columns"], fields["data"]
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise InvalidRequestError(f"'{key}.columns' must be a non-empty list of column names.")
    if len(set(names)) != len(names):
        raise InvalidRequestError(f"'{key}.columns' names a column twice: {names}.")
    if not isinstance(rows, list):
        raise InvalidRequestError(f"'{key}.data' must be a list of rows; got {json_type(rows)}.")
    index = fields.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
        raise InvalidRequestError(f"'{key}.index' must be a list with one entry per row of '{key}.data'.")
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise InvalidRequestError(
                f"Row {number} of '{key}.data' must be a list of {len(names)} cells, one per column "
                f"{names}; got {json_type(row) if not isinstance(row, list) else f'{len(row)} cells'}."
            )
    return {name: [row[position] for row in rows] for position, name in enumerate(names)}


def _merge_parameters(blocks: list[tuple[str, object]]) -> tuple[dict[str, Any], dict[str, str]]:
    parameters: dict[str, Any] = {}
    where: dict[str, str] = {}
    for block_name, block in blocks:
        if block is None:
            continue
        if not isinstance(block, dict):
            raise InvalidRequestError(f"'{block_name}' must be an object; got {json_type(block)}.")
        for name, value in block.items():
            if name in parameters:
                raise InvalidRequestError(f"Parameter '{name}' is given twice.")
            parameters[name] = value
            where[name] = block_name
    return parameters, where
