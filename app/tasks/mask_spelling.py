"""Mask spellings: `[MASK]`, `[mask]`, `[Mask]` (any case) and `<mask>` all mean the model's mask token."""

import re

MASK_SPELLING = re.compile(r"\[mask\]|<mask>", re.IGNORECASE)


def normalize_masks(text: str, mask_token: str) -> str:
    return MASK_SPELLING.sub(mask_token, text)
