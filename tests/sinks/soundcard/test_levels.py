"""Volume, limiter and resampling of utterance audio before it reaches the card."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bot.sinks.soundcard.levels import CEILING, limit, prepare, resample


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.integers(1, 3000), elements=st.floats(-8, 8, width=32)))
def test_limiter_never_lets_a_sample_over_the_ceiling(pcm: np.ndarray) -> None:
    out = limit(pcm, 24_000)
    assert out.dtype == np.float32 and len(out) == len(pcm)
    assert np.max(np.abs(out)) <= CEILING + 1e-6
    assert np.all(np.abs(out) <= np.abs(pcm) + 1e-6)  # it only ever turns down


def test_limiter_leaves_quiet_audio_alone_and_only_dips_around_a_peak() -> None:
    quiet = sine(200, 1.0, 24_000, amp=0.5)
    assert limit(quiet, 24_000) is quiet
    loud = quiet.copy()
    loud[12_000] = 3.0  # one click
    out = limit(loud, 24_000)
    far = np.r_[0:11_000, 13_000:24_000]
    np.testing.assert_array_equal(out[far], quiet[far])  # the rest of the sentence keeps its level
    gain = out[11_500:12_500] / np.where(np.abs(loud[11_500:12_500]) > 1e-3, loud[11_500:12_500], 1)
    assert np.max(np.abs(np.diff(gain[np.abs(loud[11_500:12_500]) > 0.1]))) < 0.2  # smooth, no step


@pytest.mark.parametrize("to_rate", [44_100, 48_000, 16_000])
def test_resampling_is_band_limited_and_keeps_pitch(to_rate: int) -> None:
    tone = sine(1000, 1.0, 24_000)
    out = resample(tone, 24_000, to_rate)
    assert abs(len(out) - to_rate) <= 1
    expected = sine(1000, 1.0, to_rate)[: len(out)]
    mid = slice(to_rate // 10, -to_rate // 10)  # away from the filter's edges
    assert np.max(np.abs(out[mid] - expected[mid])) < 1e-3
    # Linear interpolation would leave an image of the tone at (24 kHz - 1 kHz); soxr does not.
    if to_rate > 24_000:
        spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
        freqs = np.fft.rfftfreq(len(out), 1 / to_rate)
        image = spectrum[(freqs > 22_000) & (freqs < 24_000)].max() / spectrum.max()
        assert image < 1e-4


def test_prepare_applies_volume_limits_and_resamples() -> None:
    pcm = sine(300, 0.5, 24_000, amp=0.6)
    out = prepare(pcm, 24_000, 48_000, volume=3.0)
    assert out.dtype == np.float32 and out.flags.c_contiguous and abs(len(out) - 24_000) <= 1
    assert np.max(np.abs(out)) <= 1.0
    assert np.max(np.abs(out)) > 0.8  # loud, but limited rather than clipped
    half = prepare(pcm, 24_000, 24_000, volume=0.5)
    np.testing.assert_allclose(half, pcm * 0.5, atol=1e-7)
