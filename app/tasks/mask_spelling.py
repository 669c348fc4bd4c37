"""Mask spellings: `[MASK]`, `[mask]`, `[Mask]` (any case) and `<mask>` all mean the model's mask token."""

import re

from app.errors import InvalidInputError

MASK_SPELLING = re.compile(r"\[mask\]|<mask>", re.IGNORECASE)


def normalize_masks(text: str, mask_token: str) -> str:
    return MASK_SPELLING.sub(mask_token, text)


def prepare_inputs(texts: list[str], mask_token: str) -> list[str]:
    """Spell every mask as the model's mask token; reject an input that has none."""
    prepared = [normalize_masks(text, mask_token) for text in texts]
    for index, text in enumerate(prepared):
        if mask_token not in text:
            raise InvalidInputError(
                f"Input {index} has no mask: write [MASK] (any case) or <mask> where the word goes."
            )
    return prepared
