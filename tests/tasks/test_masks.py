import pytest

from app.tasks.mask_spelling import normalize_masks


@pytest.mark.parametrize("spelling", ["[MASK]", "[mask]", "[Mask]", "[mAsK]", "<mask>", "<MASK>"])
def test_every_mask_spelling_becomes_the_model_mask_token(spelling: str) -> None:
    assert (
        normalize_masks(f"Paris is the {spelling} of France.", "[MASK]") == "Paris is the [MASK] of France."
    )


def test_normalize_keeps_text_around_masks_and_counts_every_mask() -> None:
    assert normalize_masks("w[mask] and <mask>!", "<mask>") == "w<mask> and <mask>!"
