"""Every task in one place: its name, what it does, the head class it loads, how it binds to a loaded
checkpoint, its options type and its warm-up examples. A new task is one entry here plus its module."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    AutoModel,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from app.config import TaskName
from app.model_source import ModelSource, embedding_config_folder
from app.tasks.base import Task
from app.tasks.embedding_config import read_embedding_config
from app.tasks.feature_extraction import EmbeddingOptions, FeatureExtractionTask
from app.tasks.fill_mask import FillMaskOptions, FillMaskTask
from app.tasks.next_sentence import NextSentenceOptions, NextSentenceTask
from app.tasks.question_answering import QuestionAnsweringOptions, QuestionAnsweringTask
from app.tasks.text_classification import ClassificationOptions, TextClassificationTask
from app.tasks.token_classification import TokenClassificationOptions, TokenClassificationTask, Words

Binder = Callable[[PreTrainedModel, PreTrainedTokenizerBase, str], Task[Any]]

SENTENCE = "Paris is the capital of France."
LONG_TEXT = " ".join(["The city of Paris is the capital of France."] * 8)


class BareEncoder(torch.nn.Module):
    """An encoder without a head (AutoModel without BERT's pooler: sentence embeddings pool the last
    hidden state themselves, and a masked LM's weights, bert-base-cased's, hold no pooler to load),
    held under its `base_model_prefix` as a head model holds its encoder, so that compiling can put
    the compiled encoder in its place the same way."""

    def __init__(self, encoder: PreTrainedModel) -> None:
        super().__init__()
        self.base_model_prefix: str = encoder.base_model_prefix
        self.config = encoder.config
        setattr(self, self.base_model_prefix, encoder)

    @property
    def device(self) -> torch.device:
        # A compiled encoder holds its weights inside the package, none as parameters: it runs on
        # CPUs only (app.compilation).
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def forward(self, **inputs: Any) -> Any:
        return getattr(self, self.base_model_prefix)(**inputs)

    @classmethod
    def from_config(cls, config: Any) -> "BareEncoder":
        return cls(AutoModel.from_config(config, add_pooling_layer=False))

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> Any:
        """As AutoModel's (with `output_loading_info`, the pair), the encoder wrapped."""
        loaded = AutoModel.from_pretrained(*args, add_pooling_layer=False, **kwargs)
        if isinstance(loaded, tuple):
            return cls(loaded[0]), loaded[1]
        return cls(loaded)


@dataclass(frozen=True)
class TaskSpec:
    name: TaskName
    does: str  # completes "This model ...", in error messages
    head_class: Any  # the Auto class whose head the task reads
    bind: Binder  # the task on a loaded model, its tokenizer and where it came from
    options_type: type
    fine_tuned: bool  # a head only fine-tuning trains (not one of the pre-training heads)
    warm_up: Callable[[str], list[Any]]  # a short and a long example, given the mask token


TASKS: dict[TaskName, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "fill-mask",
            "fills masks",
            AutoModelForPreTraining,  # the NSP head comes along when the weights hold it
            FillMaskTask,
            FillMaskOptions,
            False,
            lambda mask: [f"Paris is the {mask} of France.", f"{LONG_TEXT} It is a {mask} city."],
        ),
        TaskSpec(
            "text-classification",
            "classifies texts",
            AutoModelForSequenceClassification,
            lambda model, tokenizer, _: TextClassificationTask(model, tokenizer),
            ClassificationOptions,
            True,
            lambda _: [(SENTENCE, None), (LONG_TEXT, None)],
        ),
        TaskSpec(
            "token-classification",
            "tags named entities",
            AutoModelForTokenClassification,
            lambda model, tokenizer, _: TokenClassificationTask(model, tokenizer),
            TokenClassificationOptions,
            True,
            lambda _: [Words.from_text(SENTENCE), Words.from_text(LONG_TEXT)],
        ),
        TaskSpec(
            "question-answering",
            "answers questions",
            AutoModelForQuestionAnswering,
            lambda model, tokenizer, _: QuestionAnsweringTask(model, tokenizer),
            QuestionAnsweringOptions,
            True,
            lambda _: [("What is Paris?", SENTENCE), ("What is Paris?", LONG_TEXT)],
        ),
        TaskSpec(
            "next-sentence-prediction",
            "predicts whether a sentence follows another",
            AutoModelForNextSentencePrediction,
            lambda model, tokenizer, _: NextSentenceTask(model, tokenizer),
            NextSentenceOptions,
            False,
            lambda _: [(SENTENCE, "It is big."), (LONG_TEXT, SENTENCE)],
        ),
        TaskSpec(
            "feature-extraction",
            "embeds texts",
            BareEncoder,
            lambda model, tokenizer, source: FeatureExtractionTask(
                model, tokenizer, read_embedding_config(embedding_config_folder(ModelSource.single(source)))
            ),
            EmbeddingOptions,
            False,
            lambda _: [SENTENCE, LONG_TEXT],
        ),
    )
}
