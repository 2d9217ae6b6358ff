"""Utterances streamed to the sound card through a PortAudio callback.

    play() -> bounded pending queue -> feeder task (volume, limiter, resample off the loop) -> PcmRing
           -> PortAudio callback thread (copies out of the ring, never waits)

The feeder writes an utterance into the ring as soon as it is handed over (playback starts at once), and
starts the next one only when the previous one is about to end (`LEAD_S`), so a pause takes effect at the
next utterance boundary and a skip only ever has the current utterance to cut.

The bot's one supervisor (`bot/supervisor.py`) keeps the stream: if it stops on its own (device unplugged,
audio server restarted) or its callback stops coming, the stream is closed and reopened with jittered
backoff, re-scanning devices.
Meanwhile utterances wait in the ring and the bounded pending queue; when both are full, `play` waits, and
the speech queue upstream drops by its own policy (oldest first, stale ones). Audio older than
`stale_after_s` when the card comes back is dropped rather than read out late.

A tracker task watches the card's read position against each utterance's place in the ring and reports
playback events (`bot/playback.py`): started when the card takes its first sample, finished when it passes
its end (cut if skipped or cleared); every utterance dropped before it is heard is reported unplayed, with
why. Those reports are the daemon's only truth about what is being heard.

A streamed long message (`Utterance.rest`) is one segment: its first part is written and heard while its
rest is synthesised, and the rest is written on where the first part ends (one resampler across both, so
the join is as if it had come whole); the segment is not finished until then. A skip or clear meanwhile
cancels the rest; if the rest comes late, the silence counts as starvation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bot.backoff import Backoff
from bot.events import Pcm, SpeechRequest, Utterance
from bot.playback import Ending, Finished, PlaybackReporter, Started, Unplayed
from bot.sinks.soundcard import SoundDeviceOutput, alsa_errors
from bot.sinks.soundcard.levels import StreamedLevels, prepare
from bot.sinks.soundcard.output_stream import OutputStream, StreamOpener, open_sounddevice_stream
from bot.sinks.soundcard.ring import PcmRing
from bot.sinks.streamed import drop_rest, rest_of
from bot.supervisor import ConnectFailed, Ended, Heard, LinkStats, Supervisor, Wording

log = logging.getLogger(__name__)

FADE_S = 0.008
"""Skip fade-out: long enough to avoid a click, short enough to feel instant (the issue's bound: 10 ms)."""
LEAD_S = 0.4
"""How far ahead of the end of the current utterance the next one is written."""
POLL_S = 0.02
PENDING_MAX = 4
"""Synthesised utterances waiting for the card beyond the one playing; more makes `play` wait."""


@dataclass
class Segment:
    """An utterance's place in the ring, and how far its playback got."""

    request: SpeechRequest
    start: int
    end: int
    cut: bool = False
    started: bool = False
    finished: bool = False
    unplayed: bool = False
    """Withdrawn before the card reached it: skipped over, never heard."""
    open: bool = False
    """A streamed message whose rest is still to come: not finished when the card reaches `end`."""

    @property
    def seq(self) -> int:
        return self.request.seq


@dataclass
class SinkStats:
    skipped: int = 0
    cleared: int = 0
    stale_dropped: int = 0
    underflows: int = 0
    """Underflows of streams since closed (the open one keeps its own count)."""
    device: str = ""
    rate: int = 0
    link: LinkStats = field(default_factory=LinkStats)
    """The stream's supervisor's counts."""

    @property
    def reopens(self) -> int:
        """Streams lost (and reopened, or being reopened)."""
        return self.link.losses

    @property
    def open_failures(self) -> int:
        return self.link.failures


class SoundCardSink(PlaybackReporter):
    def __init__(
        self,
        cfg: SoundDeviceOutput,
        opener: StreamOpener = open_sounddevice_stream,
        stall_s: float | None = 2.0,
        stale_after_s: float | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.cfg = cfg
        self._opener = opener
        self.stale_after_s = stale_after_s
        self._supervisor = Supervisor(
            "audio output",
            lambda heard: _CardStream(self, heard),
            backoff or Backoff(base_s=0.5, cap_s=30.0, stable_s=30.0),
            Wording(
                lost="audio output lost ({reason}); reopening",
                failed="cannot open the audio output (attempt {attempt}): {reason}",
                silence="no audio callback for {seconds:g} s",
                failed_level=logging.ERROR,
                failed_every=20,
            ),
            log,
            silent_after_s=stall_s,
            watch_connect=False,
        )
        self.stats = SinkStats(link=self._supervisor.stats)
        self._rescan = False  # re-enumerate devices on every open after the first one worked
        self._ring: PcmRing | None = None
        self._rate = 0
        self._stream: OutputStream | None = None
        self._pending: deque[Utterance] = deque()
        self._has_pending = asyncio.Event()
        self._room = asyncio.Event()  # set while fewer than PENDING_MAX wait: play() may return
        self._pending_s = 0.0
        self._segments: deque[Segment] = deque()
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._stream_up = asyncio.Event()
        self._held: Utterance | None = None  # taken by the feeder, not a Segment yet; None again if dropped
        self._played_before = 0  # heard to the end, and no longer in _segments
        self._wake = asyncio.Event()  # skip/clear/resume: the feeder should look again now
        self._callbacks = 0
        self._callback_errors = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._down_since: float | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the card (or keep trying in the background: a headset may be plugged in later)."""
        self._tasks = [
            asyncio.create_task(self._supervisor.run(), name="audio-supervisor"),
            asyncio.create_task(self._feed(), name="audio-feeder"),
            asyncio.create_task(self._track(), name="audio-tracker"),
        ]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stream_up.wait(), timeout=5.0)

    async def close(self) -> None:
        """Let what is pending and buffered play out (bounded by its own length), then release the card."""
        if self._closed:
            return
        self._closed = True
        if self._stream_up.is_set() and self._unpaused.is_set():
            buffered_s = self._ring.buffered / self._rate if self._ring and self._rate else 0.0
            bound = min(120.0, self._pending_s + buffered_s + PENDING_MAX * self.cfg.gap_ms / 1000 + 2.0)
            deadline = time.monotonic() + bound
            while time.monotonic() < deadline and (self.waiting or self._ring_busy() or self._awaiting_rest()):
                await asyncio.sleep(POLL_S)
            if self._stream is not None and not self._ring_busy():
                await asyncio.sleep(min(self._stream.latency, 1.0))  # what the audio server still holds
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._observe()
        self._drop_all("shutting_down")
        self._finish_cut_segments()
        await self._close_stream()

    def _awaiting_rest(self) -> bool:
        """A streamed message is being heard and its rest is still to come (the ring may run dry meanwhile)."""
        return any(seg.open and not seg.cut for seg in self._segments)

    def _ring_busy(self) -> bool:
        return self._ring is not None and self._stream is not None and self._stream.active and self._ring.buffered > 0

    # -- what the daemon calls ----------------------------------------------------------------------------

    async def play(self, utterance: Utterance) -> None:
        """Hand the utterance over; waits only while the card is PENDING_MAX utterances behind. It is this
        sink's from the first moment (a control finds it here while `play` still waits)."""
        self._pending.append(utterance)
        self._pending_s += utterance.duration
        self._has_pending.set()
        while len(self._pending) > PENDING_MAX:
            self._room.clear()
            await self._room.wait()

    @property
    def waiting(self) -> int:
        """Utterances handed over and not yet heard (pending, being prepared, or written ahead)."""
        written_ahead = sum(1 for seg in self._segments if not (seg.started or seg.unplayed))
        return len(self._pending) + int(self._held is not None) + written_ahead

    def skip(self, seq: int | None = None) -> bool:
        """Cut the utterance being heard (fading out in FADE_S) — only if it is request `seq`, when
        given; False if nothing (or something else) was playing."""
        self._observe()
        for seg in self._segments:
            if seg.started and not seg.finished and not seg.cut and seq in (None, seg.seq):
                self._cut(seg)
                self.stats.skipped += 1
                log.info("skipped utterance #%d", seg.seq)
                return True
        return False

    def discard(self, matches: Callable[[SpeechRequest], bool], reason: str) -> int:
        """Drop the utterances not yet heard whose request `matches` (a muted viewer's, a withdrawn one),
        wherever they wait: written ahead in the ring, being prepared, or pending — reported in the order
        they would have played. Returns how many."""
        self._observe()
        dropped = 0
        for seg in self._segments:
            if seg.started or seg.unplayed or not matches(seg.request):
                continue
            assert self._ring is not None
            seg.cut = True  # stops the writer
            seg.end = min(seg.end, self._ring.written)
            if self._ring.skip_range(seg.start, seg.end):
                seg.unplayed = True
                self._report(Unplayed(seg.request, reason))
                dropped += 1
            else:  # the card reached it meanwhile: it is being heard, so cut it like a skip
                self._observe()
                self._cut(seg)
        if self._held is not None and matches(self._held.request):
            drop_rest(self._held)
            self._report(Unplayed(self._held.request, reason))
            self._held = None
            self._wake.set()
            dropped += 1
        kept: deque[Utterance] = deque()
        for utt in self._pending:
            if matches(utt.request):
                self._pending_s -= utt.duration
                drop_rest(utt)
                self._report(Unplayed(utt.request, reason))
                dropped += 1
            else:
                kept.append(utt)
        self._pending = kept
        self._room.set()
        return dropped

    def clear(self, reason: str = "cleared") -> int:
        """Drop everything not yet heard and cut the one being heard; returns how many were never heard."""
        self._observe()
        dropped = self._drop_all(reason)
        self.stats.cleared += dropped
        return dropped

    def _cut(self, seg: Segment) -> None:
        assert self._ring is not None
        seg.cut = True
        seg.end = min(seg.end, self._ring.written)
        self._ring.cut(seg.end)
        self._wake.set()

    def _drop_all(self, reason: str) -> int:
        """Everything written ahead, held and pending is dropped (reported unplayed, in the order it would
        have played); the one being heard is cut."""
        dropped = 0
        for seg in self._segments:
            if seg.finished or seg.unplayed:
                continue
            seg.cut = True
            if self._ring is not None:
                seg.end = min(seg.end, self._ring.written)
            if not seg.started:
                seg.unplayed = True
                self._report(Unplayed(seg.request, reason))
                dropped += 1
        if self._ring is not None:
            self._ring.cut()
        if self._held is not None:
            drop_rest(self._held)
            self._report(Unplayed(self._held.request, reason))
            self._held = None
            dropped += 1
        while self._pending:
            utt = self._pending.popleft()
            self._pending_s -= utt.duration
            drop_rest(utt)
            self._report(Unplayed(utt.request, reason))
            dropped += 1
        self._room.set()
        self._wake.set()
        if self._ring is None or self._stream is None:  # nothing will move the read position again
            self._finish_cut_segments()
        return dropped

    def _finish_cut_segments(self) -> None:
        for seg in self._segments:
            if seg.started and not seg.finished:
                seg.finished = True
                self._report(Finished(seg.request, Ending.CUT))
        self._segments.clear()

    def _observe(self) -> None:
        """Report what the card's read position says happened since the last look, in order."""
        if self._ring is None:
            return
        heard = self._ring.read_position
        for seg in self._segments:
            if seg.unplayed or seg.finished:
                continue
            if not seg.started and (heard > seg.start or heard >= seg.end):
                seg.started = True
                self._report(Started(seg.request))
            if seg.started and heard >= seg.end and not seg.open:
                seg.finished = True
                self._report(Finished(seg.request, Ending.CUT if seg.cut else Ending.COMPLETE))
        while self._segments and (self._segments[0].finished or self._segments[0].unplayed):
            seg = self._segments.popleft()
            if heard < seg.end:  # skipped over but not yet passed: keep it until the card is past it
                self._segments.appendleft(seg)
                break
            self._played_before += int(seg.finished and not seg.cut)

    async def _track(self) -> None:
        while True:
            self._observe()
            await asyncio.sleep(POLL_S)

    def pause(self) -> None:
        """Stop after the utterance being heard; what is synthesised meanwhile waits (bounded)."""
        self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()
        self._wake.set()

    @property
    def alive(self) -> bool:
        """The stream is up, or it went away less than a minute ago (it is being reopened)."""
        if self._stream_up.is_set():
            return True
        return self._down_since is not None and time.monotonic() - self._down_since < 60.0

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    @property
    def played(self) -> int:
        """Utterances heard to the end (not skipped or cleared)."""
        self._observe()
        return self._played_before + sum(1 for s in self._segments if s.finished and not s.cut)

    @property
    def starved_seconds(self) -> float:
        return self._ring.starved_frames / self._rate if self._ring and self._rate else 0.0

    @property
    def callback_errors(self) -> int:
        return self._callback_errors

    @property
    def device_underruns(self) -> int:
        """Underruns on the audio server's side (PortAudio's underflow flag, ALSA's "underrun occurred"):
        the card ran dry although we had audio for it — its latency is too low for this machine."""
        current = self._stream.underflows if self._stream is not None else 0
        return self.stats.underflows + current + alsa_errors.counts.xruns

    # -- the audio thread ---------------------------------------------------------------------------------

    def _fill(self, block: Pcm) -> None:
        """PortAudio's callback: copy from the ring (or silence). No locks, no allocation, no logging."""
        self._callbacks += 1
        ring = self._ring
        try:
            if ring is None:
                block.fill(0.0)
            else:
                ring.read_into(block)
        except BaseException:
            self._callback_errors += 1
            block.fill(0.0)

    # -- tasks --------------------------------------------------------------------------------------------

    async def _feed(self) -> None:
        while True:
            while not self._pending:
                self._has_pending.clear()
                await self._has_pending.wait()
            utt = self._pending.popleft()
            self._room.set()
            self._pending_s -= utt.duration
            self._held = utt
            try:
                await self._feed_one(utt)
            finally:
                self._held = None

    async def _feed_one(self, utt: Utterance) -> None:
        await self._unpaused.wait()
        await self._stream_up.wait()
        ring, rate = self._ring, self._rate
        assert ring is not None
        levels = StreamedLevels(utt.sample_rate, rate, self.cfg.volume) if utt.rest is not None else None
        pcm = await asyncio.to_thread(self._levelled, utt, rate, levels)
        # Start when the previous utterance is about to end: pause and skip then act on one utterance.
        lead = int(LEAD_S * rate)
        while ring.buffered > lead and self._held is utt:
            await self._nap()
        await self._unpaused.wait()
        while self._held is utt and ring is not self._ring:  # the card came back at another rate
            ring, rate = self._ring, self._rate
            assert ring is not None
            levels = StreamedLevels(utt.sample_rate, rate, self.cfg.volume) if utt.rest is not None else None
            pcm = await asyncio.to_thread(self._levelled, utt, rate, levels)
        if self._held is not utt:
            drop_rest(utt)
            return  # dropped (cleared, withdrawn) while it was being prepared: reported then
        start = ring.written
        seg = Segment(utt.request, start, start + len(pcm), open=levels is not None)
        self._segments.append(seg)
        self._held = None
        await self._write(ring, pcm, seg)
        if levels is not None:
            await self._write_rest(utt, levels, ring, seg)
        gap = int(self.cfg.gap_ms * rate / 1000)
        if gap:
            await self._write(ring, np.zeros(gap, dtype=np.float32), None)

    def _levelled(self, utt: Utterance, rate: int, levels: StreamedLevels | None) -> Pcm:
        if levels is None:
            return prepare(utt.pcm, utt.sample_rate, rate, self.cfg.volume)
        return levels.part(utt.pcm, last=False)

    async def _write_rest(self, utt: Utterance, levels: StreamedLevels, ring: PcmRing, seg: Segment) -> None:
        """A streamed message: wait for its rest while its first part plays, and write it on without a gap
        (the card running dry meanwhile counts as starvation: it is silence inside a message). A skip or
        clear meanwhile cancels the rest; a rest that fails ends the message where it is."""
        try:
            ring.promise(seg.end + 1)
            while utt.rest is not None and not utt.rest.done() and not seg.cut and ring is self._ring:
                await self._nap()
            if seg.cut or ring is not self._ring:
                drop_rest(utt)
                return
            rest = await rest_of(utt)
            tail = await asyncio.to_thread(levels.part, rest if rest is not None else utt.pcm[:0], True)
            if seg.cut or ring is not self._ring:
                return
            seg.end += len(tail)
            await self._write(ring, tail, seg)
        finally:
            seg.open = False
            if ring is self._ring:
                ring.promise(seg.end)

    async def _write(self, ring: PcmRing, pcm: Pcm, seg: Segment | None) -> None:
        offset = 0
        while offset < len(pcm):
            if seg is not None and seg.cut:
                return
            offset += ring.write(pcm[offset:])
            if seg is not None:
                ring.promise(seg.end)  # only once samples are in: see PcmRing.promise
            if offset < len(pcm):
                await self._nap()

    async def _nap(self) -> None:
        """Wait for the card to take some audio (polled) or for a control to act (at once)."""
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), POLL_S)

    def _opened(self, stream: OutputStream) -> None:
        """A stream is up: a new ring if the rate changed, and what waited too long is dropped."""
        if self._ring is None or stream.samplerate != self._rate:
            # First open, or the card came back at another rate: the buffered audio is at the old one.
            if self._ring is not None:  # no stream now: what was cut is finished at once
                self._observe()
                self._drop_all("output_lost")
            self._rate = stream.samplerate
            self._ring = PcmRing(int(self.cfg.buffer_s * self._rate), max(1, int(FADE_S * self._rate)))
        elif self._was_away_too_long() and self._ring.buffered:
            self._observe()
            cut = sum(1 for seg in self._segments if seg.started and not seg.finished)
            stale = self._drop_all("stale") + cut
            self.stats.stale_dropped += stale
            log.warning("audio output was away too long: dropped %d stale utterance(s)", stale)
        self._down_since = None
        self._stream = stream
        self.stats.device, self.stats.rate = stream.device_name, stream.samplerate
        self._stream_up.set()
        log.info("audio output: %s at %d Hz", stream.device_name, stream.samplerate)

    def _was_away_too_long(self) -> bool:
        if self._down_since is None or self.stale_after_s is None:
            return False
        return time.monotonic() - self._down_since > self.stale_after_s

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._stream_up.clear()
        if stream is None:
            return
        self.stats.underflows += stream.underflows
        # Closing a stream whose server died can hang inside the driver: bounded, then abandoned.
        closer = asyncio.ensure_future(asyncio.to_thread(stream.close))
        done, _ = await asyncio.wait({closer}, timeout=3.0)
        if not done:
            log.warning("closing the old audio stream hung; abandoning it")


class _CardStream:
    """One PortAudio stream, as the supervisor sees it: up once open; heard at each audio callback."""

    def __init__(self, sink: SoundCardSink, heard: Heard) -> None:
        self._sink = sink
        self._heard = heard
        self._stream: OutputStream | None = None

    async def connect(self) -> None:
        sink, cfg = self._sink, self._sink.cfg
        opening = _Opening(lambda: sink._opener(cfg.device, cfg.rate, cfg.latency, sink._fill, sink._rescan))
        try:
            stream = await asyncio.to_thread(opening.run)
        except asyncio.CancelledError:
            opening.abandon()
            raise
        except Exception as err:
            raise ConnectFailed(str(err)) from err
        self._stream = stream
        sink._rescan = True
        sink._opened(stream)

    async def run(self) -> Ended:
        assert self._stream is not None
        seen = self._sink._callbacks
        while True:
            await asyncio.sleep(POLL_S * 5)
            if not self._stream.active:
                return Ended("the stream stopped: device gone or audio server restarted")
            if self._sink._callbacks != seen:
                seen = self._sink._callbacks
                self._heard()

    async def close(self) -> None:
        if self._stream is None:
            return
        if not self._sink._closed:
            self._sink._down_since = time.monotonic()
        await self._sink._close_stream()


class _Opening:
    """An open in a worker thread that its awaiter may give up on (the sink closing while PortAudio scans
    the devices). Cancelling the awaiter does not stop the thread: what it opens after that is closed, not
    left holding the device (a few such leaks and the card refuses every open)."""

    def __init__(self, open_stream: Callable[[], OutputStream]) -> None:
        self._open = open_stream
        self._lock = threading.Lock()
        self._abandoned = False
        self._opened: OutputStream | None = None

    def run(self) -> OutputStream:
        """In the worker thread: the opened stream, already closed if its awaiter is gone."""
        stream = self._open()
        with self._lock:
            if not self._abandoned:
                self._opened = stream
                return stream
        stream.close()
        return stream

    def abandon(self) -> None:
        """The awaiter is cancelled. A stream opened but not yet taken (its result on its way to the loop)
        is closed in a thread of its own, as closing may block in the driver."""
        with self._lock:
            self._abandoned = True
            stream, self._opened = self._opened, None
        if stream is not None:
            threading.Thread(target=stream.close, name="audio-close-abandoned", daemon=True).start()
