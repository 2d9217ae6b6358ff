"""Free heap memory goes back to the system: what made the daemon's RSS climb in the soak."""

from __future__ import annotations

import resource

import pytest

from bot import heap


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.skipif(heap._malloc_trim is None, reason="not glibc")
def test_freed_heap_is_returned_to_the_system() -> None:
    chunks = [bytearray(50_000) for _ in range(2_000)]  # 100 MB in pieces glibc keeps on its heap
    last = chunks[-1]  # pins the top of the heap: without a trim, nothing below it is given back
    del chunks
    before = rss_mb()
    heap.release_free_heap()
    assert before - rss_mb() > 50, f"RSS {before:.0f} -> {rss_mb():.0f} MB"
    assert len(last) == 50_000
