"""The example voices' stand-ins keep the real clips' pace: the same length once trimmed."""

from __future__ import annotations

from bot.engine.reference import load_reference
from bot.testing.voice_clips import TRIMMED_SAMPLES, bundled_clip


def test_each_example_voice_is_as_long_once_trimmed_as_its_stand_in() -> None:
    """With f5-tts installed this reads its real clips; in the pure run, the stand-ins."""
    for path, samples in TRIMMED_SAMPLES.items():
        assert len(load_reference(bundled_clip(path), path).pcm) == samples, path
