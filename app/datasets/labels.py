"""A label as the data writes it (an id or a name) turned into the model's label name.

Integer labels are ids of the model's `config.id2label`, as the Hugging Face data sets write them;
string labels are its names. A label the model does not know stops the reading: scoring it as
always wrong would hide a data set and a model that do not belong together.
"""

from collections.abc import Sequence
from typing import Any

from app.datasets.records import DatasetError


def resolve_label(value: Any, labels: Sequence[str], where: str) -> str:
    """The model's name for `value`; `where` ("file row N, field 'f'") opens the error message."""
    if isinstance(value, str) and value in labels:
        return value
    label_id = _as_id(value)
    if label_id is not None:
        if 0 <= label_id < len(labels):
            return labels[label_id]
        raise DatasetError(
            f"{where}: label id {label_id} is out of range; the model has {len(labels)} labels "
            f"(0..{len(labels) - 1}: {', '.join(labels)})"
        )
    raise DatasetError(f"{where}: label {value!r} is not one of the model's labels ({', '.join(labels)})")


def _as_id(value: Any) -> int | None:
    """An integer, or the digits of one (CSV cells are strings); booleans are not ids."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
