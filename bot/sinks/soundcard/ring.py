"""A preallocated float32 ring between the event loop (the only writer) and PortAudio's callback thread
(the only reader).

Why lock-free: the audio callback must never wait. With one writer and one reader, each side owns one
counter (`_written`, `_read`) and only reads the other's; CPython makes each int store atomic, and the
writer publishes its counter only after the samples are in place. The counters are absolute sample
positions (they never wrap), so "where is the listener" and "where does this utterance end" are plain
numbers the loop can compare.

Skipping is a request, not a write into the reader's state: the writer raises `_cut_to`; the reader fades
out what it was playing over a few milliseconds (no click) and then jumps its counter to `_cut_to`.

Withdrawing an utterance that is written but not yet reached (a muted viewer's, next after the one being
heard) is a skip range: the reader, arriving exactly at its start, jumps to its end without playing a sample
(the audio before it is the gap between utterances, so no fade is needed).

Starvation (the card asked for audio we had promised but not yet written) is counted here, because
PortAudio's underflow flag does not report a callback that simply had nothing to give.
"""

from __future__ import annotations

import numpy as np

from bot.events import Pcm


class PcmRing:
    def __init__(self, capacity: int, fade_frames: int) -> None:
        if capacity < 1 or fade_frames < 1:
            raise ValueError("capacity and fade_frames must be positive")
        self.capacity = capacity
        self._buf = np.zeros(capacity, dtype=np.float32)
        # A linear ramp strictly between 1 and 0: the first faded sample is already a little quieter.
        self._fade = np.linspace(1.0, 0.0, fade_frames + 2, dtype=np.float32)[1:-1].copy()
        # Writer-owned.
        self._written = 0
        self._cut_to = 0
        self._promised = 0
        self._skips: tuple[tuple[int, int], ...] = ()
        # Reader-owned.
        self._read = 0
        self._fading = 0
        self.starved_frames = 0
        self.starved_callbacks = 0

    # -- writer side (event loop) -------------------------------------------------------------------------

    @property
    def written(self) -> int:
        return self._written

    @property
    def read_position(self) -> int:
        """Samples the card has taken so far (it moves on the callback thread; a snapshot)."""
        return self._read

    @property
    def buffered(self) -> int:
        return self._written - self._read

    @property
    def free(self) -> int:
        return self.capacity - self.buffered

    def write(self, pcm: Pcm) -> int:
        """Copy as much of `pcm` as fits; returns how many samples were taken."""
        start = self._written
        n = min(len(pcm), self.capacity - (start - self._read))
        if n <= 0:
            return 0
        i = start % self.capacity
        first = min(n, self.capacity - i)
        self._buf[i : i + first] = pcm[:first]
        if n > first:
            self._buf[: n - first] = pcm[first:n]
        self._written = start + n  # publish after the samples are in place
        return n

    def promise(self, until: int) -> None:
        """Audio up to absolute position `until` is on its way: running dry before it counts as starvation.

        Call it after the first samples of that audio are written: a promise published ahead of its audio
        lets a callback that lands in between count a block the writer was about to fill."""
        self._promised = until

    def cut(self, to: int | None = None) -> None:
        """Fade out and drop everything buffered before `to` (default: all that is written)."""
        target = self._written if to is None else min(to, self._written)
        self._promised = min(self._promised, target)
        self._cut_to = max(self._cut_to, target)

    def skip_range(self, start: int, end: int) -> bool:
        """Never play [start, end) if the reader has not reached `start` yet; False if it already has (then
        the caller cuts it like the utterance being heard). Ranges behind the reader are forgotten."""
        read = self._read
        kept = tuple((s, e) for s, e in self._skips if e > read)
        self._skips = (*kept, (start, end))  # one reference store: the reader sees all of it or none
        return self._read <= start

    # -- reader side (PortAudio callback thread) ----------------------------------------------------------

    def read_into(self, out: Pcm) -> None:
        """Fill `out` completely: buffered audio, faded when a cut is pending, then zeros."""
        frames = len(out)
        filled = 0
        while filled < frames:
            r = self._read
            cut_to = self._cut_to
            if cut_to > r:
                fade_left = len(self._fade) - self._fading
                n = min(frames - filled, fade_left, cut_to - r)
                dst = out[filled : filled + n]
                self._copy(r, dst)
                np.multiply(dst, self._fade[self._fading : self._fading + n], out=dst)
                filled += n
                self._fading += n
                if self._fading >= len(self._fade) or r + n >= cut_to:
                    self._fading = 0
                    self._read = cut_to  # the rest of the cut audio is never played
                else:
                    self._read = r + n
                continue
            # The promise is read before the written count: the writer publishes them in the other order,
            # so a promise seen here always comes with the samples written before it.
            promised = self._promised
            n = min(frames - filled, self._written - r)
            jumped = False
            for start, end in self._skips:
                if start == r:
                    self._read = end
                    jumped = True
                    break
                if r < start < r + n:
                    n = start - r
            if jumped:
                continue
            if n <= 0:
                if promised > r:
                    self.starved_frames += frames - filled
                    self.starved_callbacks += 1
                out[filled:] = 0.0
                return
            self._copy(r, out[filled : filled + n])
            filled += n
            self._read = r + n

    def _copy(self, pos: int, dst: Pcm) -> None:
        i = pos % self.capacity
        first = min(len(dst), self.capacity - i)
        dst[:first] = self._buf[i : i + first]
        if len(dst) > first:
            dst[first:] = self._buf[: len(dst) - first]
