"""Next-sentence-prediction evaluation: a two-label classification of sentence pairs.

Pairs come labelled from a data file, or are built from running text (`--nsp-from-text`,
`app.datasets.sentence_pairs`). The metrics are the classifier's, `accuracy` first.
"""

from pathlib import Path
from typing import Any

from app.datasets.sentence_pairs import SentencePair
from app.datasets.text_classification import LabelledText
from app.engine.batching import BatchLimits
from app.evaluation.classification import evaluate_classification
from app.tasks.base import Task
from app.tasks.next_sentence import NSP_LABELS, NextSentenceOptions

IS_NEXT, NOT_NEXT = NSP_LABELS


def evaluate_next_sentence(
    task: Task[Any], examples: list[LabelledText], output_dir: Path, limits: BatchLimits
) -> dict[str, Any]:
    return evaluate_classification(
        task,
        examples,
        NSP_LABELS,
        NextSentenceOptions(top_k=len(NSP_LABELS)),
        output_dir,
        limits,
        title="Next-sentence prediction",
    )


def labelled_pairs(pairs: list[SentencePair]) -> list[LabelledText]:
    """Built pairs as labelled examples; `row` numbers the pairs from 1."""
    return [
        LabelledText(pair.first, pair.second, IS_NEXT if pair.is_next else NOT_NEXT, row)
        for row, pair in enumerate(pairs, start=1)
    ]
