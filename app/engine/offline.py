"""Offline prediction of many texts at once, batched by the server's own policy."""

from app.engine.batching import select_batch
from app.errors import InvalidInputError
from app.tasks.fill_mask import FillMaskModel, MaskCandidates
from app.tasks.mask_spelling import normalize_masks


def predict_all(
    model: FillMaskModel, texts: list[str], top_k: int, max_batch_tokens: int, max_batch_size: int
) -> list[MaskCandidates | InvalidInputError]:
    """Each text's candidates per mask, or the error that kept it from the model; order kept."""
    encodings = model.encode_each([normalize_masks(text, model.mask_token) for text in texts])
    valid = [(index, ids) for index, ids in enumerate(encodings) if not isinstance(ids, InvalidInputError)]
    answers = predict_encoded_all(model, [ids for _, ids in valid], top_k, max_batch_tokens, max_batch_size)
    results: list[MaskCandidates | InvalidInputError] = [
        encoding if isinstance(encoding, InvalidInputError) else [] for encoding in encodings
    ]
    for (index, _), masks in zip(valid, answers, strict=True):
        results[index] = masks
    return results


def predict_encoded_all(
    model: FillMaskModel, encodings: list[list[int]], top_k: int, max_batch_tokens: int, max_batch_size: int
) -> list[MaskCandidates]:
    """Predict already-encoded texts, batch after batch as `select_batch` forms them; order kept."""
    results: list[MaskCandidates] = [[] for _ in encodings]
    pending = list(enumerate(encodings))
    while pending:
        chosen = set(select_batch([len(ids) for _, ids in pending], max_batch_tokens, max_batch_size))
        batch = [entry for position, entry in enumerate(pending) if position in chosen]
        pending = [entry for position, entry in enumerate(pending) if position not in chosen]
        answers = model.predict_encoded([ids for _, ids in batch], top_k)
        for (index, _), masks in zip(batch, answers, strict=True):
            results[index] = masks
    return results
