"""The lock-free ring between the event loop and the audio callback: order, wrap-around, cuts, starvation."""

from __future__ import annotations

import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sinks.soundcard.ring import PcmRing


def ramp(n: int, start: int = 0) -> np.ndarray:
    return (np.arange(start, start + n) % 1000 / 1000 + 0.001).astype(np.float32)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 64),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 80)), max_size=60),
)
def test_reads_exactly_what_was_written_in_order(capacity: int, ops: list[tuple[bool, int]]) -> None:
    ring = PcmRing(capacity, fade_frames=4)
    source = ramp(10_000)
    wrote = 0
    got: list[np.ndarray] = []
    for is_write, n in ops:
        if is_write:
            taken = ring.write(source[wrote : wrote + n])
            assert taken == min(n, capacity - ring.buffered + taken)
            wrote += taken
        else:
            before = ring.buffered
            out = np.full(n, np.nan, dtype=np.float32)
            ring.read_into(out)
            k = min(n, before)
            got.append(out[:k])
            assert np.all(out[k:] == 0)  # starved: zero-filled, never garbage
        assert 0 <= ring.buffered <= capacity
    played = np.concatenate(got) if got else np.zeros(0, np.float32)
    np.testing.assert_array_equal(played, source[: len(played)])


def test_cut_fades_out_then_jumps_to_the_cut_point() -> None:
    ring = PcmRing(1000, fade_frames=10)
    ring.write(np.ones(300, np.float32))
    ring.write(np.full(100, 0.5, np.float32))  # what follows the cut (the next utterance)
    first = np.empty(50, np.float32)
    ring.read_into(first)
    assert np.all(first == 1.0)
    ring.cut(300)  # skip the rest of the first 300 samples
    out = np.empty(40, np.float32)
    ring.read_into(out)
    fade = out[:10]
    assert np.all(np.diff(fade) < 0) and 0 < fade[-1] < 0.2 and fade[0] < 1.0  # a ramp down, no step
    np.testing.assert_array_equal(out[10:], 0.5)  # then straight into what follows the cut
    assert ring.read_position == 330


def test_cut_spanning_several_callbacks_keeps_the_ramp_continuous() -> None:
    ring = PcmRing(1000, fade_frames=12)
    ring.write(np.ones(500, np.float32))
    ring.cut()
    blocks = [np.empty(5, np.float32) for _ in range(4)]
    for b in blocks:
        ring.read_into(b)
    out = np.concatenate(blocks)
    assert np.all(np.diff(out[:12]) < 0)
    assert np.all(out[12:] == 0)
    assert ring.buffered == 0


def test_cut_before_anything_is_read_and_cut_past_the_written_end() -> None:
    ring = PcmRing(100, fade_frames=4)
    ring.write(np.ones(20, np.float32))
    ring.cut(10_000)  # clamped to what is written
    out = np.empty(30, np.float32)
    ring.read_into(out)
    assert np.all(out[4:] == 0) and ring.read_position == 20


def test_starvation_is_counted_only_inside_promised_audio() -> None:
    ring = PcmRing(100, fade_frames=4)
    out = np.empty(10, np.float32)
    ring.read_into(out)  # idle between utterances: silence is expected, not starvation
    assert ring.starved_frames == 0
    ring.promise(50)
    ring.write(np.ones(20, np.float32))
    ring.read_into(np.empty(30, np.float32))
    assert ring.starved_frames == 10 and ring.starved_callbacks == 1
    ring.cut()
    ring.read_into(out)  # cut: the rest of the promise is withdrawn
    assert ring.starved_frames == 10


def test_concurrent_writer_and_reader_threads_lose_and_reorder_nothing() -> None:
    ring = PcmRing(257, fade_frames=4)
    total = 200_000
    source = ramp(total)
    got = np.zeros(total, np.float32)

    def reader() -> None:
        pos = 0
        block = np.empty(37, np.float32)
        while pos < total:
            avail = min(ring.buffered, len(block))
            if avail == 0:
                continue
            view = block[:avail]
            ring.read_into(view)
            got[pos : pos + avail] = view
            pos += avail

    t = threading.Thread(target=reader)
    t.start()
    wrote = 0
    while wrote < total:
        wrote += ring.write(source[wrote : wrote + 101])
    t.join(timeout=60)
    assert not t.is_alive()
    np.testing.assert_array_equal(got, source)
