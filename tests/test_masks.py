import pytest

from app.errors import InvalidInputError
from app.tasks.mask_spelling import normalize_masks, prepare_inputs


@pytest.mark.parametrize("spelling", ["[MASK]", "[mask]", "[Mask]", "[mAsK]", "<mask>", "<MASK>"])
def test_every_mask_spelling_becomes_the_model_mask_token(spelling: str) -> None:
    assert (
        normalize_masks(f"Paris is the {spelling} of France.", "[MASK]") == "Paris is the [MASK] of France."
    )


def test_normalize_keeps_text_around_masks_and_counts_every_mask() -> None:
    assert normalize_masks("w[mask] and <mask>!", "<mask>") == "w<mask> and <mask>!"


def test_prepare_rejects_input_without_mask_naming_its_index() -> None:
    with pytest.raises(InvalidInputError, match="Input 2 has no mask"):
        prepare_inputs(["a [MASK]", "b <mask>", "no mask here", "[MASK]"], "[MASK]")


@pytest.mark.parametrize("text", ["", "   ", "[MAS K]", "MASK", "[[mask"])
def test_prepare_rejects_texts_that_only_look_like_masks(text: str) -> None:
    with pytest.raises(InvalidInputError, match="Input 0 has no mask"):
        prepare_inputs([text], "[MASK]")
