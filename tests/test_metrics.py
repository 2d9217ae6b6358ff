"""/metrics renders the daemon's one snapshot: every counter of the status, in Prometheus' format."""

from __future__ import annotations

from bot.metrics import Metrics
from bot.status import StatusSnapshot


def test_drops_of_received_messages_and_events_never_received_are_apart() -> None:
    """`ishowtts_dropped` sums with spoken, failed and unheard to received; what the source could not use
    and a bug's skips were never received, so they are `ishowtts_skipped` (they were once among the drops)."""
    snapshot = StatusSnapshot(
        received=5, spoken=2, failed=1, unheard=1, drops={"stale": 1}, skipped={"malformed": 3, "internal_error": 1}
    )
    text = Metrics(lambda: snapshot).render().decode()
    assert 'ishowtts_dropped_total{reason="stale"} 1.0' in text
    assert 'ishowtts_dropped_total{reason="malformed"}' not in text
    assert 'ishowtts_skipped_total{reason="malformed"} 3.0' in text
    assert 'ishowtts_skipped_total{reason="internal_error"} 1.0' in text
    assert "dropped 1" in snapshot.line() and "skipped before the filters: internal_error=1, malformed=3" in (
        snapshot.summary()
    )


def test_shortened_messages_are_counted() -> None:
    text = Metrics(lambda: StatusSnapshot(shortened=3)).render().decode()
    assert "ishowtts_messages_shortened_total 3.0" in text
