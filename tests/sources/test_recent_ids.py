"""Paid events' ids remembered for a window, bounded."""

from __future__ import annotations

from bot.sources.recent_ids import RecentIds


def test_a_second_sighting_within_the_window_is_a_duplicate_and_after_it_is_not() -> None:
    ids = RecentIds(window_s=60.0)
    assert ids.seen("sc:1", now=0.0) is False
    assert ids.seen("sc:1", now=59.0) is True
    assert ids.seen("sc:2", now=59.0) is False
    assert ids.seen("sc:1", now=61.0) is False  # forgotten: it is news again


def test_it_stays_bounded_forgetting_the_oldest_first() -> None:
    ids = RecentIds(window_s=1e9, max_ids=3)
    for i in range(5):
        assert ids.seen(f"gift:{i}", now=float(i)) is False
    assert ids.seen("gift:4", now=5.0) is True
    assert ids.seen("gift:0", now=5.0) is False
