"""Inputs longer than the model reads: keep a window around the masks instead of cutting blindly.

Truncating the end can drop the mask; refusing the input fails a reasonable request. The model
sees its special tokens around the longest stretch of the text that fits, with the masks
centred in it, and answers as it would on that window.
"""

from app.errors import InvalidInputError


def window_around_masks(input_ids: list[int], mask_token_id: int, max_tokens: int, index: int) -> list[int]:
    """`input_ids` starts and ends with one special token each ([CLS] ... [SEP])."""
    if len(input_ids) <= max_tokens:
        return input_ids
    prefix, body, suffix = input_ids[0], input_ids[1:-1], input_ids[-1]
    room = max_tokens - 2
    masks = [position for position, token in enumerate(body) if token == mask_token_id]
    span_start, span_end = masks[0], masks[-1] + 1
    if span_end - span_start > room:
        raise InvalidInputError(
            f"Input {index}: its masks are {span_end - span_start} tokens apart; the model reads at most "
            f"{room} tokens of text at once. Split it into inputs whose masks are closer together."
        )
    start = max(0, span_start - (room - (span_end - span_start)) // 2)
    end = min(len(body), start + room)
    start = max(0, end - room)
    return [prefix, *body[start:end], suffix]
