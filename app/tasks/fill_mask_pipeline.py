"""What transformers' fill-mask pipeline adds around the candidates: `targets` (only these words
compete) and `sequence` (the input completed by a candidate), written as the pipeline writes them so
Hugging Face clients get the same answer from us as from the pipeline."""

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from app.errors import InvalidInputError


def resolve_targets(
    tokenizer: PreTrainedTokenizerBase, targets: Sequence[str]
) -> tuple[int, ...] | InvalidInputError:
    """The pipeline's `get_target_ids`: a word of the vocabulary is its id, another word its first
    token's; a word that makes no token is dropped."""
    vocabulary = tokenizer.get_vocab()
    ids = set()
    for target in targets:
        token = vocabulary.get(target)
        if token is None:
            pieces = tokenizer(target, add_special_tokens=False, max_length=1, truncation=True)["input_ids"]
            token = pieces[0] if pieces else None
        if token is not None:
            ids.add(int(token))
    if not ids:
        return InvalidInputError("'parameters.targets' holds no word that makes a token of this vocabulary.")
    return tuple(sorted(ids))


def completed_sequences(
    tokenizer: PreTrainedTokenizerBase, mask_token_id: int, input_ids: list[int], tokens: list[list[int]]
) -> list[list[str]]:
    """Per mask, per candidate token (`tokens[mask]`), the input with that token in that mask:
    without special tokens where the input has one mask; with them (and the other masks) where it
    has several, as the pipeline decodes them."""
    positions = [position for position, token in enumerate(input_ids) if token == mask_token_id]
    single = len(positions) == 1
    pad = tokenizer.pad_token_id
    sequences = []
    for position, candidates in zip(positions, tokens, strict=True):
        row = []
        for candidate in candidates:
            filled = [candidate if at == position else token for at, token in enumerate(input_ids)]
            row.append(
                str(tokenizer.decode([token for token in filled if token != pad], skip_special_tokens=single))
            )
        sequences.append(row)
    return sequences
