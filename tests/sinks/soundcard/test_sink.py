"""The sound-card sink's logic on a fake stream with a virtual playout clock: gapless order, the gap
between utterances, skip within a fade, pause at boundaries, clear, starvation, a callback that throws,
and a device that disappears."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from bot.backoff import Backoff
from bot.events import ChatEvent, Rest, SpeechRequest, Utterance
from bot.playback import Ending, Finished, PlaybackEvent, Started, Unplayed
from bot.sinks.soundcard import SoundDeviceOutput
from bot.sinks.soundcard import sink as soundcard
from bot.sinks.soundcard.output_stream import FakeOutputStream, FakeStreamOpener
from bot.sinks.soundcard.ring import PcmRing
from bot.sinks.soundcard.sink import FADE_S, SoundCardSink

RATE = 24_000


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(soundcard, "POLL_S", 0.001)
    yield


def utterance(seq: int, seconds: float, level: float) -> Utterance:
    req = SpeechRequest(text=f"u{seq}", voice="zh", event=ChatEvent(text=f"u{seq}"), seq=seq)
    return Utterance(request=req, pcm=np.full(int(seconds * RATE), level, dtype=np.float32))


def make_sink(opener: FakeStreamOpener, gap_ms: int = 100, **kw: object) -> SoundCardSink:
    cfg = SoundDeviceOutput(type="sounddevice", gap_ms=gap_ms)
    backoff = Backoff(base_s=0.001, cap_s=0.005)
    return SoundCardSink(cfg, opener=opener, stall_s=None, backoff=backoff, **kw)  # type: ignore[arg-type]


async def play_for(stream: FakeOutputStream, seconds: float) -> np.ndarray:
    """Advance the virtual clock in 10 ms steps, letting the event loop run between them."""
    out = []
    for _ in range(round(seconds / 0.01)):
        out.append(stream.advance(0.01))
        await asyncio.sleep(0.002)
    return np.concatenate(out)


async def until(cond: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def runs(pcm: np.ndarray) -> list[tuple[float, int]]:
    """(level, length) of each run of equal samples."""
    edges = np.flatnonzero(np.diff(pcm)) + 1
    starts = np.r_[0, edges]
    ends = np.r_[edges, len(pcm)]
    return [(round(float(pcm[s]), 3), int(e - s)) for s, e in zip(starts, ends, strict=True)]


async def test_utterances_play_whole_in_order_with_the_configured_gap() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=100)
    await sink.start()
    for i, level in enumerate((0.1, 0.2, 0.3)):
        await sink.play(utterance(i, 0.5, level))
    out = await play_for(opener.current, 2.5)
    await sink.close()
    played = [(lvl, n) for lvl, n in runs(out) if lvl != 0]
    assert played == [(0.1, 12_000), (0.2, 12_000), (0.3, 12_000)]  # nothing lost, nothing repeated
    gaps = [n for lvl, n in runs(out)[1:-1] if lvl == 0]
    assert gaps and all(2400 <= n <= 2400 + 240 for n in gaps)  # 100 ms (+ at most one 10 ms block)
    assert sink.played == 3 and sink.starved_seconds == 0.0


async def test_skip_fades_out_within_the_fade_and_the_next_one_follows() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    await sink.start()
    await sink.play(utterance(1, 3.0, 0.5))
    await sink.play(utterance(2, 0.5, 0.25))
    await play_for(opener.current, 0.5)
    assert sink.skip()
    after = await play_for(opener.current, 1.0)
    fade = int(FADE_S * RATE)
    assert np.all(np.diff(after[:fade]) <= 0) and after[0] < 0.5  # ramps down, no step
    # The next utterance follows within one 10 ms block (the feeder is woken by the skip).
    assert np.flatnonzero(after == 0.25)[0] <= 240 + fade
    assert (0.25, 12_000) in runs(after)
    assert sink.stats.skipped == 1 and sink.played == 1
    await sink.close()


async def test_pause_waits_for_the_utterance_boundary_and_resume_goes_on() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    await sink.start()
    await sink.play(utterance(1, 1.0, 0.5))
    await sink.play(utterance(2, 0.5, 0.25))
    await play_for(opener.current, 0.2)
    sink.pause()
    out = await play_for(opener.current, 2.0)
    assert [lvl for lvl, _ in runs(out)] == [0.5, 0.0]  # the first one finished; the second waits
    sink.resume()
    out = await play_for(opener.current, 1.0)
    assert (0.25, 12_000) in runs(out)
    await sink.close()


async def test_clear_drops_what_is_pending_and_fades_the_current_one() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    await sink.start()
    for i in range(4):
        await sink.play(utterance(i, 1.0, 0.5))
    await play_for(opener.current, 0.3)
    assert sink.clear() == 3  # never heard; the one being heard is cut, not dropped
    out = await play_for(opener.current, 1.0)
    assert np.all(out[int(FADE_S * RATE) :] == 0)
    await sink.close()


async def test_starvation_inside_an_utterance_is_counted() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    await sink.start()
    await play_for(opener.current, 0.2)  # idle: silence, not starvation
    assert sink.starved_seconds == 0
    await sink.play(utterance(1, 0.5, 0.5))
    await play_for(opener.current, 0.05)
    assert sink._ring is not None
    sink._ring.promise(sink._ring.written + RATE)  # as if a streamed utterance's next chunk were late
    await play_for(opener.current, 1.0)
    assert sink.starved_seconds == pytest.approx(1.05 - 0.5, abs=0.011)
    await sink.close()


async def test_a_callback_between_promise_and_write_is_not_starvation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audio thread can run at any bytecode: here it runs a block right after every promise, the
    worst moment. A promise published ahead of its samples would count that block as starved (a CI
    flake on a loaded 2-core machine caught exactly this)."""
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    await sink.start()
    promise = PcmRing.promise
    played: list[np.ndarray] = []

    def promise_then_callback(ring: PcmRing, until: int) -> None:
        promise(ring, until)
        played.append(opener.current.advance(0.01))

    monkeypatch.setattr(PcmRing, "promise", promise_then_callback)
    await sink.play(utterance(1, 0.5, 0.5))
    played.append(await play_for(opener.current, 1.0))
    await sink.close()
    assert sink.starved_seconds == 0.0
    assert np.count_nonzero(np.concatenate(played) == 0.5) == 12_000  # every sample once, none lost


async def test_an_exception_in_the_callback_is_counted_and_the_stream_goes_on() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener)
    await sink.start()
    assert sink._ring is not None
    real = sink._ring.read_into
    calls = {"n": 0}

    def flaky(block: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        real(block)

    sink._ring.read_into = flaky  # type: ignore[method-assign]
    await sink.play(utterance(1, 0.3, 0.5))
    out = await play_for(opener.current, 0.6)
    assert sink.callback_errors == 1 and opener.current.active
    assert np.count_nonzero(out == 0.5) == int(0.3 * RATE)  # nothing was lost, only a block of silence
    await sink.close()


async def test_device_absent_at_start_then_lost_mid_stream_is_reopened() -> None:
    opener = FakeStreamOpener(fail_opens=3)
    sink = make_sink(opener, gap_ms=0)
    await sink.start()
    assert opener.opens == 4 and sink.stats.open_failures == 3
    await sink.play(utterance(1, 1.0, 0.5))
    first = opener.current
    await play_for(first, 0.4)
    first.die()  # unplugged
    for _ in range(200):
        await asyncio.sleep(0.005)
        if opener.current is not first:
            break
    assert opener.current is not first and first.closed
    assert opener.rescans >= 1 and sink.stats.reopens == 1
    out = await play_for(opener.current, 1.0)
    assert np.count_nonzero(out == 0.5) == pytest.approx(0.6 * RATE, abs=240)  # the rest of it plays
    await sink.close()


async def test_a_stream_opened_after_its_open_was_cancelled_is_closed() -> None:
    """Closing the sink while PortAudio is still opening the card in its worker thread: the stream that
    thread opens afterwards is closed, not left holding the device."""
    hold = threading.Event()
    opener = FakeStreamOpener(hold=hold)
    sink = make_sink(opener)
    starting = asyncio.create_task(sink.start())
    try:
        await until(lambda: opener.opens == 1, "the open to begin in its thread")
        await sink.close()
    finally:
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        hold.set()  # the open finishes with nobody waiting for it
    await until(lambda: bool(opener.streams) and opener.current.closed, "the late stream to be closed")
    assert opener.opens == 1 and sink.stats.reopens == 0


async def test_a_stream_opened_just_before_its_open_was_cancelled_is_closed_too() -> None:
    """The other order: the thread has returned the stream, the cancel comes before the loop takes it."""
    stream = FakeOutputStream()
    opening = soundcard._Opening(lambda: stream)
    assert opening.run() is stream and not stream.closed
    opening.abandon()
    await until(lambda: stream.closed, "the stream in flight to be closed")


async def test_a_stream_whose_callback_stops_is_reopened() -> None:
    """The supervisor's silence watch, as the card uses it: a stream that stays "active" while its
    callback no longer comes (a wedged audio server) is closed and reopened; one that keeps calling back
    is kept however long it plays."""
    opener = FakeStreamOpener()
    cfg = SoundDeviceOutput(type="sounddevice", gap_ms=0)
    sink = SoundCardSink(cfg, opener=opener, stall_s=1.0, backoff=Backoff(base_s=0.001, cap_s=0.005))
    await sink.start()
    first = opener.current
    until = time.monotonic() + 2.5  # real time, past the bound: a 10 ms block every 10 ms
    while time.monotonic() < until:
        first.advance(0.01)
        await asyncio.sleep(0.01)
    assert opener.current is first and sink.stats.reopens == 0
    for _ in range(1000):  # the callback stops; bounded: 10 s
        await asyncio.sleep(0.01)
        if len(opener.streams) == 2:
            break
    assert first.closed and sink.stats.reopens == 1
    assert list(sink.stats.link.reasons) == ["no audio callback for 1 s"]
    await sink.close()


async def test_audio_from_before_a_long_outage_is_dropped_not_read_out_late() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, stale_after_s=0.05)
    await sink.start()
    await sink.play(utterance(1, 2.0, 0.5))
    await play_for(opener.current, 0.2)
    opener.fail_opens = 20
    opener.current.die()
    await asyncio.sleep(0.3)
    opener.fail_opens = 0
    for _ in range(200):
        await asyncio.sleep(0.005)
        if len(opener.streams) == 2:
            break
    out = await play_for(opener.current, 0.5)
    assert sink.stats.stale_dropped == 1
    assert np.count_nonzero(out) <= int(FADE_S * RATE)
    await sink.close()


async def test_close_lets_the_last_utterance_finish() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    await sink.start()
    await sink.play(utterance(1, 0.3, 0.5))
    closing = asyncio.create_task(sink.close())
    out = await play_for(opener.current, 0.5)
    await closing
    assert np.count_nonzero(out == 0.5) == int(0.3 * RATE)
    assert opener.current.closed


async def test_close_waits_for_the_rest_of_a_streamed_message_being_heard() -> None:
    """Stopping the service while a long message's rest is still being synthesised: its first part runs
    out (the ring is empty for a moment), the rest arrives, and all of it is heard before the card closes."""
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    await sink.start()
    rest: asyncio.Future[Rest] = asyncio.get_running_loop().create_future()
    head = dataclasses.replace(utterance(1, 0.2, 0.5), rest=rest)
    await sink.play(head)
    closing = asyncio.create_task(sink.close())
    out = [await play_for(opener.current, 0.4)]  # the head is heard, then the ring runs dry
    rest.set_result(Rest(np.full(int(0.3 * RATE), 0.25, dtype=np.float32)))
    out.append(await play_for(opener.current, 0.6))
    await closing
    heard = np.concatenate(out)
    assert np.count_nonzero(heard == 0.25) > 0.25 * RATE  # the rest was heard, not cut at close


def recorder(sink: SoundCardSink) -> list[tuple[str, int, str]]:
    """(event, seq, ending or reason) as the sink reports them."""
    events: list[tuple[str, int, str]] = []

    def listen(event: PlaybackEvent) -> None:
        detail = event.ending.value if isinstance(event, Finished) else getattr(event, "reason", "")
        events.append((type(event).__name__, event.request.seq, detail))

    sink.on_playback = listen
    return events


async def test_playback_is_reported_started_then_finished_in_order() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=50)
    events = recorder(sink)
    await sink.start()
    await sink.play(utterance(1, 0.3, 0.5))
    await sink.play(utterance(2, 0.3, 0.25))
    await play_for(opener.current, 0.1)
    assert events == [("Started", 1, "")]
    await play_for(opener.current, 1.0)
    assert events == [("Started", 1, ""), ("Finished", 1, "complete"), ("Started", 2, ""), ("Finished", 2, "complete")]
    await sink.close()


async def test_skip_reports_the_cut_and_clear_reports_what_was_never_heard() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    events = recorder(sink)
    await sink.start()
    for i in range(1, 5):
        await sink.play(utterance(i, 1.0, 0.5))
    await play_for(opener.current, 0.3)
    assert sink.skip(1)
    await play_for(opener.current, 0.3)
    assert sink.clear("cleared") == 2
    await play_for(opener.current, 0.2)
    await sink.close()
    assert events == [
        ("Started", 1, ""),
        ("Finished", 1, "cut"),
        ("Started", 2, ""),
        ("Unplayed", 3, "cleared"),
        ("Unplayed", 4, "cleared"),
        ("Finished", 2, "cut"),
    ]


async def test_a_discarded_utterance_written_ahead_is_never_heard() -> None:
    """The next utterance is written into the ring before the current one ends (gapless): withdrawing it
    then must skip it in the ring, not play it, and the one being heard plays on untouched."""
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=100)
    events = recorder(sink)
    await sink.start()
    await sink.play(utterance(1, 0.6, 0.5))
    await sink.play(utterance(2, 0.6, 0.25))
    await sink.play(utterance(3, 0.3, 0.125))
    heard = [await play_for(opener.current, 0.4)]  # 0.2 s left of the first: the second is in the ring
    assert sink.waiting == 2 and ("Started", 2, "") not in events
    assert sink.discard(lambda r: r.seq == 2, "muted") == 1
    heard.append(await play_for(opener.current, 1.5))
    await sink.close()
    out = np.concatenate(heard)
    assert np.count_nonzero(out == 0.25) == 0  # not one sample of it
    assert np.count_nonzero(out == 0.5) == int(0.6 * RATE) and np.count_nonzero(out == 0.125) == int(0.3 * RATE)
    assert events == [
        ("Started", 1, ""),
        ("Unplayed", 2, "muted"),
        ("Finished", 1, "complete"),
        ("Started", 3, ""),
        ("Finished", 3, "complete"),
    ]


async def test_what_is_left_at_close_is_reported() -> None:
    opener = FakeStreamOpener()
    sink = make_sink(opener, gap_ms=0)
    events = recorder(sink)
    await sink.start()
    sink.pause()
    await sink.play(utterance(1, 0.3, 0.5))
    await sink.close()
    assert events == [("Unplayed", 1, "shutting_down")]
    assert isinstance(Unplayed, type) and Ending.CUT and Started
