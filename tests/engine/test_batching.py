import random

import pytest

from app.engine.batching import MAX_PADDING_FRACTION, PADDING_WORTH_A_BATCH, padded_tokens, select_batch


def test_empty_queue_selects_nothing() -> None:
    assert select_batch([], max_batch_tokens=100, max_batch_size=8) == []


def test_oldest_input_always_goes_even_when_over_budget() -> None:
    assert select_batch([600, 10, 10], max_batch_tokens=512, max_batch_size=8) == [0]


def test_equal_lengths_fill_up_to_the_count_cap() -> None:
    assert select_batch([20] * 10, max_batch_tokens=10_000, max_batch_size=4) == [0, 1, 2, 3]


def test_token_budget_counts_padding() -> None:
    # 4 rows padded to 30 tokens fit 120; a fifth would need 150. Exact-length matches go first.
    assert select_batch([30, 30, 29, 30, 30, 30], max_batch_tokens=120, max_batch_size=32) == [0, 1, 3, 4]


def test_similar_lengths_are_grouped_and_far_ones_wait() -> None:
    lengths = [20, 80, 21, 79, 19, 22, 81]
    assert select_batch(lengths, max_batch_tokens=10_000, max_batch_size=32) == [0, 2, 4, 5]
    # The long ones form the next batch once the short ones are gone.
    assert select_batch([80, 79, 81], max_batch_tokens=10_000, max_batch_size=32) == [0, 1, 2]


def test_short_inputs_of_varied_lengths_share_a_batch_worth_its_padding() -> None:
    # 17 tokens of padding: over a tenth of the 90 the batch costs, under what a batch of its own costs.
    assert select_batch([12, 16, 14, 18, 13], max_batch_tokens=10_000, max_batch_size=32) == [0, 1, 2, 3, 4]
    # 60 tokens of padding on long inputs is more than either allowance: they wait.
    assert select_batch([200, 260], max_batch_tokens=10_000, max_batch_size=32) == [0]


def test_result_is_in_arrival_order() -> None:
    chosen = select_batch([50, 10, 49, 51, 48], max_batch_tokens=10_000, max_batch_size=3)
    assert chosen == sorted(chosen) and chosen[0] == 0 and len(chosen) == 3


@pytest.mark.parametrize("seed", range(20))
def test_every_batch_respects_the_limits_and_the_queue_drains(seed: int) -> None:
    rng = random.Random(seed)
    queue = [rng.randint(3, 512) for _ in range(rng.randint(1, 200))]
    max_tokens, max_size = rng.choice([512, 1024, 4096]), rng.choice([1, 8, 32])
    batches = 0
    while queue:
        chosen = select_batch(queue, max_batch_tokens=max_tokens, max_batch_size=max_size)
        lengths = [queue[i] for i in chosen]
        assert 0 in chosen and len(chosen) <= max_size
        if len(chosen) > 1:
            assert padded_tokens(lengths) <= max_tokens
            padding = padded_tokens(lengths) - sum(lengths)
            assert padding <= max(MAX_PADDING_FRACTION * padded_tokens(lengths), PADDING_WORTH_A_BATCH)
        queue = [length for i, length in enumerate(queue) if i not in set(chosen)]
        batches += 1
    assert batches >= 1
