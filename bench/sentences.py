"""Varied English sentences (with masks, or plain), from the SQuAD contexts (Wikipedia prose) in ../shared."""

import json
import random
import re
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
SQUAD = SHARED / "data" / "datasets" / "squad"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
PLAIN_WORD = re.compile(r"^[A-Za-z]{3,}$")


def wikipedia_sentences(rng: random.Random, min_words: int = 6, max_words: int = 40) -> list[str]:
    """Every distinct sentence of min_words..max_words words, shuffled by `rng`."""
    files = sorted(SQUAD.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"No SQuAD data under {SQUAD}: the benchmark reads its sentences from ../shared.")
    contexts = {json.loads(line)["context"] for file in files for line in file.read_text().splitlines()}
    sentences = sorted(
        {
            sentence.strip()
            for context in contexts
            for sentence in SENTENCE_END.split(context)
            if min_words <= len(sentence.split()) <= max_words
        }
    )
    rng.shuffle(sentences)
    return sentences


def masked_sentences(count: int, seed: int = 0, min_words: int = 6, max_words: int = 40) -> list[str]:
    """`count` sentences of min_words..max_words words; one word masked, a second in one of four."""
    rng = random.Random(seed)
    sentences = wikipedia_sentences(rng, min_words, max_words)
    masked = []
    for sentence in sentences:
        words = sentence.split()
        maskable = [i for i, word in enumerate(words) if PLAIN_WORD.match(word)]
        if len(maskable) < 2:
            continue
        for index in rng.sample(maskable, 2 if rng.random() < 0.25 else 1):
            words[index] = "[MASK]"
        masked.append(" ".join(words))
        if len(masked) == count:
            return masked
    raise SystemExit(f"Only {len(masked)} usable sentences in {SQUAD}; asked for {count}.")
