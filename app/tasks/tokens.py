"""A text's tokens as the model reads them, and token ids back to text: TEI's /tokenize and /decode.

These need the tokenizer only, never the model: they run where the request is read (long texts on
the engine's preparing threads), on the Rust tokenizer's own encodings (`encodings_of`). Offsets are
character positions in the text (Python's, as transformers' `return_offsets_mapping` gives them).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from app.errors import InvalidRequestError
from app.tasks.base import encodings_of, plain_backend


@dataclass(frozen=True)
class Token:
    id: int
    text: str  # the slice of the text it came from; a special token's own spelling
    special: bool
    start: int | None  # None for a special token, which no character produced
    stop: int | None


def tokens_of(tokenizer: PreTrainedTokenizerBase, text: str, add_special_tokens: bool = True) -> list[Token]:
    backend = plain_backend(tokenizer)
    if backend is None:
        raise InvalidRequestError("Listing tokens needs the model's fast (Rust) tokenizer; this one is not.")
    (encoding,) = encodings_of(backend, [text], add_special_tokens)
    tokens = []
    for token_id, (start, stop), special, spelling in zip(
        encoding.ids, encoding.offsets, encoding.special_tokens_mask, encoding.tokens, strict=True
    ):
        if special:
            tokens.append(Token(token_id, spelling, True, None, None))
        else:
            tokens.append(Token(token_id, text[start:stop], False, start, stop))
    return tokens


def text_of(
    tokenizer: PreTrainedTokenizerBase, ids: Sequence[int], where: str, skip_special_tokens: bool = True
) -> str:
    """The text of `ids`; an id outside the vocabulary is an error naming `where` it is."""
    size = len(tokenizer)
    for index, token_id in enumerate(ids):
        if not 0 <= token_id < size:
            raise InvalidRequestError(
                f"'{where}[{index}]' is {token_id}, outside the vocabulary (0..{size - 1})."
            )
    return str(tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens))
