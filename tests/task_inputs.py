"""Varied inputs for the task tests: sentences from the tiny vocabulary, short and long."""

import random

from tests.tiny_bert import PUNCTUATION, WORDS

# Words the tiny vocabulary lacks become [UNK]; words it splits exercise sub-tokens.
ODD_WORDS = ["Parisian", "walked", "unknownword", "London's", "e-mail", "naïve", "3.5", "東京"]


def sentences(count: int, seed: int, min_words: int = 1, max_words: int = 40) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = rng.choices(WORDS + ODD_WORDS, k=rng.randint(min_words, max_words))
        text = " ".join(words)
        if rng.random() < 0.5:
            text += rng.choice(PUNCTUATION)
        texts.append(text.capitalize() if rng.random() < 0.5 else text)
    return texts


def long_text(words: int, seed: int) -> str:
    """A text of `words` words, past what the model reads when `words` is over ~500."""
    return " ".join(random.Random(seed).choices(WORDS, k=words))
