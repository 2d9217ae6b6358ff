"""Utterance audio made ready for a sound card: global volume, a limiter, and the card's sample rate.

Done once per utterance, off the event loop and never in the audio callback. Per-voice gain is applied by
the engine (it knows the voice); the volume here is the streamer's master knob.

Why a look-ahead limiter and not `np.clip`: clipping a loud cloned voice produces harsh distortion, and
scaling a whole utterance by its single loudest peak makes one plosive turn the sentence down. The gain
curve here dips only around the peaks, smoothly (no clicks), and provably keeps every sample under the
ceiling: the curve at any sample is an average of minimums that each include that sample's own limit.

Why soxr: it is a band-limited (anti-aliased) resampler, so 24 kHz speech comes out of a 44.1/48 kHz card
without the imaging and treble loss of linear interpolation.
"""

from __future__ import annotations

import numpy as np
import soxr
from numpy.lib.stride_tricks import sliding_window_view

from bot.events import Pcm

CEILING = 10 ** (-1.0 / 20)
"""-1 dBFS: head-room for the resampler's small overshoot and the DAC's reconstruction."""

LIMITER_WINDOW_S = 0.005


def limit(pcm: Pcm, sample_rate: int, ceiling: float = CEILING) -> Pcm:
    """Gain-reduce around peaks above `ceiling` (smoothly over ~5 ms); audio below it is untouched."""
    peak = float(np.max(np.abs(pcm))) if len(pcm) else 0.0
    if peak <= ceiling:
        return pcm
    w = max(1, int(sample_rate * LIMITER_WINDOW_S))
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(pcm), 1e-12))
    # Hold: each sample takes the smallest gain needed within ±w of it ...
    held = sliding_window_view(np.pad(need, w, mode="edge"), 2 * w + 1).min(axis=1)
    # ... smooth: a centred moving average of width w+1 (every window member holds <= this sample's need).
    half = w // 2
    padded = np.pad(held, (half, w - half), mode="edge")
    csum = np.concatenate(([0.0], np.cumsum(padded, dtype=np.float64)))
    gain = (csum[w + 1 :] - csum[: -(w + 1)]) / (w + 1)
    limited: Pcm = (pcm * gain.astype(np.float32)).astype(np.float32)
    return limited


def resample(pcm: Pcm, from_rate: int, to_rate: int) -> Pcm:
    if from_rate == to_rate or not len(pcm):
        return pcm.astype(np.float32, copy=False)
    return np.asarray(soxr.resample(pcm, from_rate, to_rate, quality="HQ"), dtype=np.float32)


def prepare(pcm: Pcm, from_rate: int, to_rate: int, volume: float) -> Pcm:
    """Volume, limiter, resampling; the result is contiguous float32 in [-1, 1] at `to_rate`."""
    return _finish(resample(_level(pcm, from_rate, volume), from_rate, to_rate))


class StreamedLevels:
    """`prepare` for an utterance that arrives in parts (a streamed long message): one resampler runs
    across the parts, so the join has no edge of its own (a one-shot resample of each part would pad
    each end); the limiter acts on each part (it only ever lowers peaks, within 5 ms of them)."""

    def __init__(self, from_rate: int, to_rate: int, volume: float) -> None:
        self.from_rate, self.to_rate, self.volume = from_rate, to_rate, volume
        self._stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality="HQ")

    def part(self, pcm: Pcm, last: bool) -> Pcm:
        """The next part at `to_rate`; `last` flushes what the resampler holds back."""
        out = _level(pcm, self.from_rate, self.volume)
        if self.from_rate != self.to_rate:
            out = np.asarray(self._stream.resample_chunk(np.ascontiguousarray(out), last=last), dtype=np.float32)
        return _finish(out)


def _level(pcm: Pcm, rate: int, volume: float) -> Pcm:
    out = pcm.astype(np.float32) * np.float32(volume) if volume != 1.0 else pcm.astype(np.float32, copy=False)
    return limit(out, rate)


def _finish(pcm: Pcm) -> Pcm:
    return np.ascontiguousarray(np.clip(pcm, -1.0, 1.0), dtype=np.float32)
