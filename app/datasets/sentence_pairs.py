"""Next-sentence-prediction pairs built from running text, as BERT's pre-training built them.

The text file holds one sentence per line; a blank line ends a document. Each sentence that has a
next one in its document makes one pair: half of the pairs, chosen with a seeded generator, keep
the true next sentence (IsNext); the others get a random sentence of the file that is neither
the true next one nor the first itself (NotNext).
"""

import random
from dataclasses import dataclass
from pathlib import Path

from app.datasets.records import DatasetError

ATTEMPTS = 100


@dataclass(frozen=True)
class SentencePair:
    first: str
    second: str
    is_next: bool


def read_documents(path: Path) -> list[list[str]]:
    """Sentences per document; blank lines separate documents."""
    documents: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            documents[-1].append(line.strip())
        elif documents[-1]:
            documents.append([])
    return [document for document in documents if document]


def build_sentence_pairs(documents: list[list[str]], seed: int = 42) -> list[SentencePair]:
    """One pair per sentence with a successor, in file order; len // 2 of them NotNext."""
    starts = [(d, i) for d, document in enumerate(documents) for i in range(len(document) - 1)]
    if not starts:
        raise DatasetError("next-sentence pairs need at least two consecutive sentences")
    sentences = [sentence for document in documents for sentence in document]
    generator = random.Random(seed)
    not_next = set(generator.sample(range(len(starts)), len(starts) // 2))
    pairs = []
    for index, (d, i) in enumerate(starts):
        first, following = documents[d][i], documents[d][i + 1]
        if index in not_next:
            pairs.append(SentencePair(first, _random_other(generator, sentences, (first, following)), False))
        else:
            pairs.append(SentencePair(first, following, True))
    return pairs


def _random_other(generator: random.Random, sentences: list[str], excluded: tuple[str, str]) -> str:
    for _ in range(ATTEMPTS):
        candidate = generator.choice(sentences)
        if candidate not in excluded:
            return candidate
    others = [sentence for sentence in sentences if sentence not in excluded]
    if not others:
        raise DatasetError("next-sentence pairs need at least three different sentences")
    return generator.choice(others)
