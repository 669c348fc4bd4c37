"""TEI's request bodies to `InferenceJob`s, and the answers back to its shapes.

As text-embeddings-inference has them (router/src/http/types.rs):
- `/embed` one vector per input (`normalize` defaults to true there), `/embed_all` one per token, and
  `/similarity` the cosines of a source to sentences (the bodies are in `embedding_inputs`, which
  Hugging Face's task API shares);
- `/predict`'s `inputs` is a string, a pair `[a, b]` (one input, not two) or a batch of `[a]` and
  `[a, b]`; every label's score, best first, softmax over several labels and a sigmoid for one, the
  logits with `raw_scores`;
- `/rerank` scores `(query, text)` pairs with a one-label cross-encoder and answers best first;
- `/tokenize` and `/decode` go between texts and token ids.
`truncate` unset takes the server's AUTO_TRUNCATE. Errors are `{"error", "error_type"}`.
"""

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from app.config import Settings
from app.errors import InvalidRequestError
from app.serving.embedding_inputs import TruncationDirection
from app.serving.jobs import InferenceJob, check_input_count
from app.tasks.base import Scored
from app.tasks.feature_extraction import Embedding
from app.tasks.text_classification import ClassificationOptions, ScoreFunction, TextPair
from app.tasks.tokens import Token

# TEI's ErrorType per status: what its clients branch on beside the message.
ERROR_TYPES = {413: "validation", 429: "overloaded", 503: "unhealthy", 504: "backend"}

PREDICT_INPUTS = "a string, a pair [string, string], or a batch of [string] and [string, string]"
PredictInputs = StrictStr | list[StrictStr] | list[list[StrictStr]]


def tei_error(status: int, message: str) -> dict[str, Any]:
    return {"error": message, "error_type": ERROR_TYPES.get(status, "validation")}


def truncates(truncate: bool | None, settings: Settings) -> bool:
    """A request's `truncate`, or the server's AUTO_TRUNCATE where it leaves it unset (embeddings
    read AUTO_TRUNCATE in the task; a classifier elsewhere truncates, as the pipeline does)."""
    return settings.auto_truncate if truncate is None else truncate


def encode_embeddings(embeddings: list[Embedding]) -> list[list[float]]:
    return [embedding.vector for embedding in embeddings]


def encode_token_embeddings(embeddings: list[Embedding]) -> list[list[list[float]]]:
    return [embedding.tokens or [] for embedding in embeddings]


def tei_function(labels: int, raw_scores: bool) -> ScoreFunction:
    """TEI's scores: the logits with `raw_scores`, else softmax over several labels, a sigmoid for one."""
    if raw_scores:
        return "none"
    return "softmax" if labels > 1 else "sigmoid"


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: PredictInputs = Field(description=PREDICT_INPUTS)
    truncate: bool | None = None
    truncation_direction: TruncationDirection = "Right"
    raw_scores: bool = False

    @property
    def single(self) -> bool:
        """A string or one pair: answered with one list of predictions, not a list of them."""
        return isinstance(self.inputs, str) or all(isinstance(item, str) for item in self.inputs)

    def examples(self) -> list[TextPair]:
        inputs = self.inputs
        if isinstance(inputs, str):
            return [(inputs, None)]
        if self.single:
            return [_sequence([str(text) for text in inputs], "inputs")]
        return [
            _sequence(item, f"inputs[{index}]") if isinstance(item, list) else (str(item), None)
            for index, item in enumerate(inputs)
        ]

    def job(self, labels: int, settings: Settings) -> InferenceJob:
        examples = self.examples()
        check_input_count("inputs", len(examples), settings.max_inputs_per_request)
        options = ClassificationOptions(
            top_k=None,
            function_to_apply=tei_function(labels, self.raw_scores),
            truncate=truncates(self.truncate, settings),
        )
        return InferenceJob("text-classification", examples, options, logged_inputs=examples)


def _sequence(texts: Sequence[str], where: str) -> TextPair:
    if len(texts) == 1:
        return texts[0], None
    if len(texts) == 2:
        return texts[0], texts[1]
    raise InvalidRequestError(f"'{where}' has {len(texts)} strings; a sequence is one string or a pair.")


def encode_predictions(answers: list[list[Scored]], single: bool) -> list[Any]:
    predictions = [
        [{"score": scored.score, "label": scored.label} for scored in answer] for answer in answers
    ]
    return predictions[0] if single else predictions


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: StrictStr
    texts: list[StrictStr] = Field(min_length=1)
    truncate: bool | None = None
    truncation_direction: TruncationDirection = "Right"
    raw_scores: bool = False
    return_text: bool = False

    def job(self, labels: int, settings: Settings) -> InferenceJob:
        if labels != 1:
            raise InvalidRequestError(
                f"This model has {labels} labels; reranking needs a cross-encoder with one score per pair."
            )
        check_input_count("texts", len(self.texts), settings.max_inputs_per_request)
        examples = [(self.query, text) for text in self.texts]
        options = ClassificationOptions(
            top_k=None,
            function_to_apply=tei_function(1, self.raw_scores),
            truncate=truncates(self.truncate, settings),
        )
        return InferenceJob("text-classification", examples, options, logged_inputs=examples)

    def ranks(self, answers: list[list[Scored]]) -> list[dict[str, Any]]:
        """Best first; `index` is the text's place in the request."""
        ranks = [
            {"index": index}
            | ({"text": self.texts[index]} if self.return_text else {})
            | {"score": answer[0].score}
            for index, answer in enumerate(answers)
        ]
        return sorted(ranks, key=lambda rank: -rank["score"])


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: StrictStr | list[StrictStr] = Field(description="a string or a list of strings")
    add_special_tokens: bool = True
    prompt_name: str | None = None

    def texts(self, settings: Settings) -> list[str]:
        texts = [self.inputs] if isinstance(self.inputs, str) else self.inputs
        if not texts:
            raise InvalidRequestError("'inputs' is empty: send a string or a list of them.")
        check_input_count("inputs", len(texts), settings.max_inputs_per_request)
        return texts


def encode_tokens(tokens: list[Token]) -> list[dict[str, Any]]:
    return [
        {
            "id": token.id,
            "text": token.text,
            "special": token.special,
            "start": token.start,
            "stop": token.stop,
        }
        for token in tokens
    ]


class DecodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[StrictInt] | list[list[StrictInt]] = Field(description="a list of token ids, or a list of them")
    skip_special_tokens: bool = True

    def id_lists(self, settings: Settings) -> list[tuple[str, list[int]]]:
        """Each list with where it is in the body, for an error's message."""
        if not self.ids:
            raise InvalidRequestError("'ids' is empty: send a list of token ids, or a list of them.")
        if all(isinstance(item, int) for item in self.ids):
            return [("ids", self.ids)]  # type: ignore[list-item]
        check_input_count("ids", len(self.ids), settings.max_inputs_per_request)
        return [(f"ids[{index}]", ids) for index, ids in enumerate(self.ids)]  # type: ignore[misc]
