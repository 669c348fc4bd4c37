"""What the embedding protocols (TEI's routes, OpenAI's) share: their `input`s, and the job."""

from typing import Annotated

from pydantic import Field, StrictInt, StrictStr

from app.config import Settings
from app.serving.jobs import InferenceJob, check_input_count
from app.tasks.feature_extraction import EmbeddingOptions

INPUTS_DESCRIPTION = "a string, a list of token ids, or a list of strings or of token-id lists"
Inputs = Annotated[
    StrictStr | list[StrictInt] | list[StrictStr | list[StrictInt]], Field(description=INPUTS_DESCRIPTION)
]


def input_list(inputs: Inputs) -> list[str | list[int]]:
    """A single string or id list is one input; a list of them, several."""
    if isinstance(inputs, str) or (inputs and all(isinstance(item, int) for item in inputs)):
        return [inputs]  # type: ignore[list-item]
    return list(inputs)  # type: ignore[arg-type]


def embedding_job(inputs: Inputs, where: str, options: EmbeddingOptions, settings: Settings) -> InferenceJob:
    """`where`: the field holding the inputs, for the limit's message."""
    given = input_list(inputs)
    check_input_count(where, len(given), settings.max_inputs_per_request)
    return InferenceJob("feature-extraction", given, options, logged_inputs=given)
