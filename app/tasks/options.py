"""Each task's options from the parameters every caller shares: one place for /score, batch
scoring and warm-up to build them."""

from typing import Any

from app.config import TaskName
from app.tasks.feature_extraction import EmbeddingOptions
from app.tasks.fill_mask import FillMaskOptions
from app.tasks.next_sentence import NextSentenceOptions
from app.tasks.question_answering import DOC_STRIDE, MAX_ANSWER_LENGTH, QuestionAnsweringOptions
from app.tasks.text_classification import ClassificationOptions
from app.tasks.token_classification import TokenClassificationOptions


def task_options(
    task: TaskName,
    top_k: int = 1,
    with_scores: bool = False,
    max_answer_length: int = MAX_ANSWER_LENGTH,
    doc_stride: int = DOC_STRIDE,
) -> Any:
    """`with_scores` matters to NER only (one tag per word, with or without its score)."""
    if task == "fill-mask":
        return FillMaskOptions(top_k)
    if task == "text-classification":
        return ClassificationOptions(top_k)
    if task == "next-sentence-prediction":
        return NextSentenceOptions(top_k)
    if task == "feature-extraction":
        return EmbeddingOptions()
    if task == "token-classification":
        return TokenClassificationOptions(with_scores=with_scores)
    return QuestionAnsweringOptions(top_k=top_k, max_answer_length=max_answer_length, doc_stride=doc_stride)
