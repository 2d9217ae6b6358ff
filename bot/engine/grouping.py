"""Which pieces of one synthesis call share a batched pass: messages of similar length together.

A pass runs every item at the pass's longest length (rounded up to the length bucket) and, with CUDA
graphs, at a batch size rounded up to a power of two; each pass also has a fixed cost (text embedding,
launches, the vocoder per item). Eight danmaku of 1 to 25 characters in one pass were padded to the
longest and cost 6.8 x one short danmaku on an H200; split by length they cost 5.8-5.9 x
(docs/benchmarks.md). The split is chosen here to minimise an estimate fitted to that run:

    cost(pass) = PASS_OVERHEAD_FRAMES + batch size (rounded) x length (rounded)

(one short danmaku alone, batched 2/4/8 at its length: 1.0 / 1.7 / 3.06 / 6.15, which that line fits
within 5 %). The pieces of one call are all sampled before the call returns, so how they are split
never delays any of them beyond the call; only the call's total time changes.
"""

from __future__ import annotations

from collections.abc import Callable

PASS_OVERHEAD_FRAMES = 320
"""A pass's fixed cost, in the unit of one item-frame of sampling (H200: ~14 ms, a quarter of a short
danmaku alone)."""


def plan_passes(
    lengths: list[int],
    max_batch: int,
    padded_batch: Callable[[int], int] = lambda n: n,
    padded_length: Callable[[int], int] = lambda n: n,
    overhead: float = PASS_OVERHEAD_FRAMES,
) -> list[list[int]]:
    """The indices of `lengths` in passes of at most `max_batch`, of least estimated total cost.

    Each pass is a run of consecutive items in length order (a pass costs its longest item, so any other
    split can be bettered by one of these), and passes come shortest first. Exact, O(n x max_batch)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(max(0, end - max(max_batch, 1)), end):
            cost = best[start] + overhead + padded_batch(end - start) * padded_length(lengths[order[end - 1]])
            if cost < best[end]:
                best[end], cut[end] = cost, start
    passes: list[list[int]] = []
    end = len(order)
    while end > 0:
        passes.append(order[cut[end] : end])
        end = cut[end]
    return passes[::-1]
