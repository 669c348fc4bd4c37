import random

import pytest

from app.engine.batching import select_batch


def test_empty_queue_selects_nothing() -> None:
    assert select_batch([], max_batch_tokens=100, max_batch_size=8) == []


def test_oldest_input_always_goes_even_when_over_budget() -> None:
    assert select_batch([600, 10, 10], max_batch_tokens=512, max_batch_size=8) == [0]


def test_equal_lengths_fill_up_to_the_count_cap() -> None:
    assert select_batch([20] * 10, max_batch_tokens=10_000, max_batch_size=4) == [0, 1, 2, 3]


def test_the_budget_counts_real_tokens_not_padding() -> None:
    # 30 + 30 + 29 + 30 = 119 fit 120; padded to the longest, the fourth would not have (4 x 30).
    assert select_batch([30, 30, 29, 30, 30, 30], max_batch_tokens=120, max_batch_size=32) == [0, 1, 2, 3]


def test_inputs_of_any_lengths_share_a_batch() -> None:
    lengths = [20, 80, 21, 79, 19, 22, 81, 500]
    assert select_batch(lengths, max_batch_tokens=10_000, max_batch_size=32) == list(range(8))


def test_one_too_long_for_what_is_left_waits_while_shorter_ones_fill_the_rest() -> None:
    assert select_batch([100, 400, 50, 60], max_batch_tokens=200, max_batch_size=32) == [0, 2]


def test_result_is_in_arrival_order() -> None:
    chosen = select_batch([50, 10, 49, 51, 48], max_batch_tokens=10_000, max_batch_size=3)
    assert chosen == [0, 1, 2]


@pytest.mark.parametrize("seed", range(20))
def test_every_batch_respects_the_limits_and_the_queue_drains(seed: int) -> None:
    rng = random.Random(seed)
    queue = [rng.randint(3, 512) for _ in range(rng.randint(1, 200))]
    max_tokens, max_size = rng.choice([512, 1024, 4096]), rng.choice([1, 8, 32])
    while queue:
        chosen = select_batch(queue, max_batch_tokens=max_tokens, max_batch_size=max_size)
        lengths = [queue[i] for i in chosen]
        assert chosen[0] == 0 and chosen == sorted(chosen) and len(chosen) <= max_size
        assert len(chosen) == 1 or sum(lengths) <= max_tokens
        queue = [length for i, length in enumerate(queue) if i not in set(chosen)]
