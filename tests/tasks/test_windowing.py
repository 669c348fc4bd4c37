import pytest

from app.errors import InvalidInputError
from app.tasks.windowing import window_around_masks

CLS, SEP, MASK = 101, 102, 103


def ids(body: list[int]) -> list[int]:
    return [CLS, *body, SEP]


def test_an_input_that_fits_is_unchanged() -> None:
    short = ids([5, MASK, 6])
    assert window_around_masks(short, MASK, max_tokens=8, index=0) is short


@pytest.mark.parametrize("mask_at", [0, 1, 50, 98, 99])
def test_the_window_fits_keeps_special_tokens_and_every_mask(mask_at: int) -> None:
    body = list(range(1000, 1100))
    body[mask_at] = MASK
    window = window_around_masks(ids(body), MASK, max_tokens=12, index=0)
    assert len(window) == 12
    assert window[0] == CLS and window[-1] == SEP
    assert window.count(MASK) == 1
    inner = window[1:-1]
    assert inner == body[body.index(inner[0]) : body.index(inner[0]) + 10], "a contiguous stretch"


def test_the_masks_are_centred_when_the_text_allows() -> None:
    body = list(range(1000, 1100))
    body[40], body[44] = MASK, MASK
    inner = window_around_masks(ids(body), MASK, max_tokens=22, index=0)[1:-1]
    assert inner.index(MASK) == 7 and len(inner) - 1 - inner[::-1].index(MASK) == 11


def test_masks_further_apart_than_the_model_reads_are_refused_naming_the_input() -> None:
    body = [MASK, *range(1000, 1020), MASK]
    with pytest.raises(InvalidInputError, match=r"^Input 3: its masks are 22 tokens apart; .* at most 10"):
        window_around_masks(ids(body), MASK, max_tokens=12, index=3)
