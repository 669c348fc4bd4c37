"""Which queued inputs form the next batch: a pure policy, testable without asyncio or torch.

Like text-embeddings-inference's queue, a batch fills up to a token budget and a count cap. Two
more rules keep CPU time for real tokens:
- the oldest input always goes, so none starves however the lengths fall;
- the rest join in order of how close their length is to the oldest's, and only while padding
  (every row is padded to the longest) stays under MAX_PADDING_FRACTION of the batch, or under
  PADDING_WORTH_A_BATCH tokens, whichever is more.

A batch costs a fixed part (dispatch, the head, the softmax over the vocabulary) plus a part per
padded token; the fixed part of a bert-base-sized model is worth 26-63 padded tokens (fp32, bf16,
int8 on a 2-core AMD EPYC: `python -m bench.batch_cost`). Padding less than that beats leaving an
input for a batch of its own, which is what a tenth alone did to short sentences: batches of 7 from
32 queued.
"""

from collections.abc import Sequence

MAX_PADDING_FRACTION = 0.10
PADDING_WORTH_A_BATCH = 32


def padded_tokens(lengths: Sequence[int]) -> int:
    return max(lengths, default=0) * len(lengths)


def select_batch(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int) -> list[int]:
    """Indices into `lengths` (token counts in arrival order) of the next batch, in arrival order."""
    if not lengths:
        return []
    oldest = lengths[0]
    by_closeness = sorted(range(1, len(lengths)), key=lambda index: (abs(lengths[index] - oldest), index))
    chosen = [0]
    chosen_lengths = [oldest]
    for index in by_closeness:
        if len(chosen) >= max_batch_size:
            break
        candidate_lengths = [*chosen_lengths, lengths[index]]
        cost = padded_tokens(candidate_lengths)
        padding = cost - sum(candidate_lengths)
        if cost > max_batch_tokens or padding > max(MAX_PADDING_FRACTION * cost, PADDING_WORTH_A_BATCH):
            continue
        chosen.append(index)
        chosen_lengths = candidate_lengths
    return sorted(chosen)
