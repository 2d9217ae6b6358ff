from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.backend import batch_bucket
from bot.engine.grouping import plan_passes

pytestmark = pytest.mark.torch  # batch_bucket lives in the backend, which imports torch

# The eight danmaku of 1 to 25 characters of bench/first_sound.py with the bench voice (6 s reference), in
# frames, as they arrived (not sorted): their lengths as an H200 run printed them.
MIXED = [843, 608, 1023, 702, 608, 983, 662, 822]


def bucket64(n: int) -> int:
    return -(-n // 64) * 64


def test_mixed_lengths_are_split_by_length_and_alike_ones_stay_together() -> None:
    passes = plan_passes(MIXED, 8, batch_bucket, bucket64)
    assert [sorted(MIXED[i] for i in p) for p in passes] == [[608, 608, 662, 702], [822, 843, 983, 1023]]
    alike = plan_passes([843, 850, 830, 845, 860, 840, 835, 855], 8, batch_bucket, bucket64)
    assert len(alike) == 1 and sorted(alike[0]) == list(range(8))


@given(st.lists(st.integers(1, 3000), max_size=40), st.integers(1, 16), st.booleans())
def test_every_piece_is_sampled_once_in_passes_of_at_most_max_batch_shortest_first(
    lengths: list[int], max_batch: int, graphs: bool
) -> None:
    passes = plan_passes(lengths, max_batch, batch_bucket if graphs else (lambda n: n), bucket64)
    assert sorted(i for p in passes for i in p) == list(range(len(lengths)))
    assert all(1 <= len(p) <= max_batch for p in passes)
    flat = [lengths[i] for p in passes for i in p]
    assert flat == sorted(flat)  # each pass a run of similar lengths, the shortest pass first


@given(st.lists(st.integers(1, 3000), min_size=1, max_size=24), st.integers(1, 8))
def test_the_plan_never_costs_more_than_fixed_chunks_of_max_batch(lengths: list[int], max_batch: int) -> None:
    """What the engine did before: the sorted pieces cut every `max_batch`."""

    def cost(passes: list[list[int]]) -> float:
        return sum(320 + batch_bucket(len(p)) * bucket64(max(lengths[i] for i in p)) for p in passes)

    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    chunks = [order[s : s + max_batch] for s in range(0, len(order), max_batch)]
    assert cost(plan_passes(lengths, max_batch, batch_bucket, bucket64)) <= cost(chunks)
