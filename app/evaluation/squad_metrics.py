"""SQuAD v1.1's exact match and F1, as its official `evaluate-v1.1.py` computes them.

Both compare normalised answers (lower case, punctuation and the articles a/an/the removed,
whitespace collapsed), take the best over the gold answers of a question, and are reported as
percentages of the questions.
"""

import re
import string
from collections import Counter
from collections.abc import Sequence

ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(character for character in text.lower() if character not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def token_f1(prediction: str, gold: str) -> float:
    predicted_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    same = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_exact_match(prediction: str, golds: Sequence[str]) -> float:
    return max(float(exact_match(prediction, gold)) for gold in golds)


def best_f1(prediction: str, golds: Sequence[str]) -> float:
    return max(token_f1(prediction, gold) for gold in golds)
