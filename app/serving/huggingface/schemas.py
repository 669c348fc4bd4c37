"""Wire models of `POST /`, the Hugging Face task API: each task's parameters and input objects
(validated by pydantic, with the pipelines' defaults), and the answers' shapes for the OpenAPI page.

Names follow transformers' pipelines and huggingface_hub's `*OutputElement` types, so a reader of
either finds the same field here.
"""

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictStr, field_validator, model_validator
from pydantic.config import JsonDict

from app.config import TaskName
from app.serving.embedding_inputs import SimilarityInput
from app.serving.protocol_errors import error_responses
from app.serving.validation import NonBlankText, check_top_k
from app.tasks.fill_mask import FillMaskOptions
from app.tasks.next_sentence import NSP_LABELS, NextSentenceOptions
from app.tasks.question_answering import MAX_SEQ_LENGTH, QuestionAnsweringOptions
from app.tasks.text_classification import ClassificationOptions
from app.tasks.token_classification import TokenClassificationOptions
from app.tasks.token_entities import EntityOptions

REQUEST_EXAMPLES: dict[str, JsonDict] = {
    "fill-mask": {"inputs": "Paris is the [MASK] of France.", "parameters": {"top_k": 3}},
    "text-classification": {"inputs": "i feel so happy today", "parameters": {"top_k": 2}},
    "text-classification (pair)": {"inputs": {"text": "A man is eating.", "text_pair": "A man eats."}},
    "token-classification": {
        "inputs": "My name is Wolfgang and I live in Berlin",
        "parameters": {"aggregation_strategy": "simple"},
    },
    "question-answering": {
        "inputs": {"question": "Where do I live?", "context": "My name is Wolfgang and I live in Berlin."}
    },
    "next-sentence-prediction": {"inputs": {"text": "I went home.", "text_pair": "Then I slept."}},
    "feature-extraction": {"inputs": ["What is Deep Learning?"], "normalize": True},
    "sentence-similarity": {
        "inputs": {"source_sentence": "What is Deep Learning?", "sentences": ["Deep Learning is...", "Paris"]}
    },
}


class PipelineParameters(BaseModel):
    """A task's parameters as its transformers pipeline takes them, with the pipeline's defaults."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def to_options(self) -> Any:
        raise NotImplementedError


class FillMaskParameters(PipelineParameters):
    top_k: int = Field(default=5, description="Candidates per mask, best first (1 to MAX_TOP_K).")
    targets: list[StrictStr] | StrictStr | None = Field(
        default=None,
        description="Only these words compete (a word outside the vocabulary counts as its first token); "
        "scores stay probabilities over the whole vocabulary.",
    )
    _top_k = field_validator("top_k", mode="before")(check_top_k)

    def to_options(self) -> FillMaskOptions:
        targets = self.targets
        return FillMaskOptions(
            top_k=self.top_k,
            targets=None if targets is None else tuple([targets] if isinstance(targets, str) else targets),
            with_sequences=True,
        )


class TextClassificationParameters(PipelineParameters):
    top_k: int | None = Field(default=1, description="Labels per input, best first; null: every label.")
    function_to_apply: Literal["sigmoid", "softmax", "none"] | None = Field(
        default=None,
        description="On the logits; unset: the head's own (softmax; sigmoid for multi-label or one "
        "output; none for regression), as the pipeline picks it.",
    )
    _top_k = field_validator("top_k", mode="before")(check_top_k)

    def to_options(self) -> ClassificationOptions:
        return ClassificationOptions(top_k=self.top_k, function_to_apply=self.function_to_apply)


class TokenClassificationParameters(PipelineParameters):
    aggregation_strategy: Literal["none", "simple", "first", "average", "max"] = Field(
        default="simple",
        description="As the pipeline's: none answers every token (`entity`, `index`); the others group "
        "tokens into entities (`entity_group`). Default simple, as HF's Inference API answers.",
    )
    ignore_labels: list[StrictStr] | None = Field(default=None, description='Labels left out; default ["O"].')
    stride: int | None = Field(
        default=None,
        ge=0,
        description="Read a text longer than the model does in windows overlapping by this many tokens "
        "(not with aggregation_strategy none). Unset, such a text is refused.",
    )

    @model_validator(mode="after")
    def _stride_needs_aggregation(self) -> Self:
        if self.stride is not None and self.aggregation_strategy == "none":
            raise ValueError(
                "'parameters.stride' needs an 'aggregation_strategy' other than 'none', as the pipeline's "
                "does."
            )
        return self

    def to_options(self) -> TokenClassificationOptions:
        ignore = ("O",) if self.ignore_labels is None else tuple(self.ignore_labels)
        return TokenClassificationOptions(
            entities=EntityOptions(self.aggregation_strategy, ignore, self.stride)
        )


class QuestionAnsweringParameters(PipelineParameters):
    top_k: int = Field(default=1, description="Answers per question: 1 answers an object, more a list.")
    max_answer_len: int = Field(default=30, ge=1, le=512, description="Longest answer, in tokens.")
    doc_stride: int = Field(
        default=128, ge=1, le=256, description="Overlap, in tokens, of the windows over a long context."
    )
    max_seq_len: int | None = Field(
        default=None, ge=16, le=512, description="Tokens per window, question included; default 384."
    )
    handle_impossible_answer: bool = Field(
        default=False, description='Let the empty answer ("", start 0, end 0) compete.'
    )
    _top_k = field_validator("top_k", mode="before")(check_top_k)

    @model_validator(mode="after")
    def _windows_overlap_less_than_they_hold(self) -> Self:
        if self.max_seq_len is not None and self.doc_stride >= self.max_seq_len:
            raise ValueError("'parameters.doc_stride' must be less than 'parameters.max_seq_len'.")
        return self

    def to_options(self) -> QuestionAnsweringOptions:
        return QuestionAnsweringOptions(
            top_k=self.top_k,
            max_answer_length=self.max_answer_len,
            doc_stride=self.doc_stride,
            max_seq_length=self.max_seq_len or MAX_SEQ_LENGTH,
            handle_impossible_answer=self.handle_impossible_answer,
        )


class NextSentenceParameters(PipelineParameters):
    top_k: int | None = Field(default=None, description="Labels per input, best first; unset: both.")
    _top_k = field_validator("top_k", mode="before")(check_top_k)

    def to_options(self) -> NextSentenceOptions:
        return NextSentenceOptions(top_k=self.top_k or len(NSP_LABELS))


PARAMETER_MODELS: dict[TaskName, type[PipelineParameters]] = {
    "fill-mask": FillMaskParameters,
    "text-classification": TextClassificationParameters,
    "token-classification": TokenClassificationParameters,
    "question-answering": QuestionAnsweringParameters,
    "next-sentence-prediction": NextSentenceParameters,
}


class TextPairInput(BaseModel):
    """Text classification of a pair, as the pipeline takes it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: StrictStr
    text_pair: StrictStr | None = None


class SentencePairInput(BaseModel):
    """Next-sentence prediction: does `text_pair` follow `text`?"""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: StrictStr
    text_pair: StrictStr


class QuestionContextInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    question: NonBlankText
    context: NonBlankText


OneInput = StrictStr | TextPairInput | SentencePairInput | QuestionContextInput | SimilarityInput


class HuggingFaceRequest(BaseModel):
    """One input, or a list of them (answered with a list), for the task the served model answers."""

    model_config = ConfigDict(extra="forbid")

    inputs: OneInput | list[OneInput] = Field(
        description="fill-mask: a text with [MASK]; text-classification: a text, or {text, text_pair}; "
        "token-classification: a text; question-answering: {question, context}; "
        "next-sentence-prediction: {text, text_pair}; feature-extraction: a text; "
        "sentence-similarity (an embedding model): {source_sentence, sentences}."
    )
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="The task's parameters (see the *Parameters models); sentence-similarity: "
        "truncate, prompt_name.",
    )
    # feature-extraction's parameters sit beside `inputs`, as TEI and InferenceClient send them.
    normalize: bool | None = Field(
        default=None, description="feature-extraction: unit vectors (default true)."
    )
    truncate: bool | None = Field(
        default=None, description="feature-extraction: cut over-long texts; unset: AUTO_TRUNCATE."
    )
    prompt_name: str | None = Field(default=None, description="feature-extraction: a named prompt.")
    dimensions: int | None = Field(default=None, description="feature-extraction: keep the first dimensions.")


class FillMaskOutputElement(BaseModel):
    score: float = Field(description="Softmax probability over the vocabulary at this mask.")
    token: int = Field(description="Vocabulary id.")
    token_str: str
    sequence: str = Field(description="The input completed by this candidate.")


class TextClassificationOutputElement(BaseModel):
    label: str
    score: float


class TokenClassificationOutputElement(BaseModel):
    entity_group: str | None = Field(default=None, description="The grouped entity (strategies but none).")
    entity: str | None = Field(default=None, description="The token's label (strategy none).")
    index: int | None = Field(default=None, description="The token's position (strategy none).")
    score: float
    word: str
    start: int = Field(description="Character offsets into the input.")
    end: int


class QuestionAnsweringOutputElement(BaseModel):
    answer: str
    score: float = Field(description="Softmax probability over the n-best spans' summed logits (run_qa).")
    start: int = Field(description="Character offsets into the context.")
    end: int


class HuggingFaceResponse(
    RootModel[
        list[FillMaskOutputElement]
        | list[list[FillMaskOutputElement]]
        | list[list[TextClassificationOutputElement]]
        | list[TextClassificationOutputElement]
        | list[TokenClassificationOutputElement]
        | list[list[TokenClassificationOutputElement]]
        | QuestionAnsweringOutputElement
        | list[QuestionAnsweringOutputElement]
        | list[list[float]]
        | list[float]
    ]
):
    """The pipeline's answer for one input; a list of them for a list of inputs.

    - fill-mask: the candidates of its mask (one list per mask when it has several);
    - text-classification: `[[{label, score}, ...]]`, a list per input even for one, as HF's Inference
      API answers and InferenceClient.text_classification reads;
    - token-classification: its entities;
    - question-answering: `{answer, score, start, end}`, a list of them when `top_k` > 1;
    - next-sentence-prediction: `[{label: IsNext | NotNext, score}, ...]`;
    - feature-extraction: one vector per input, a list of them even for one text (as TEI answers);
    - sentence-similarity: the cosine of the source to each sentence.
    """


ERROR_RESPONSES = error_responses(400, 401, 413, 429, 503, 504)
