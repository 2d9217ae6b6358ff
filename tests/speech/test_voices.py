"""Transcript guards: a transcript that does not fit its clip is a one-line warning, at load and in
`check`, and a clip cut at 12 s is one too."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import VoiceConfig, parse_config
from bot.engine.chunking import FRAMES_PER_SECOND
from bot.speech.voices import NOMINAL_RATE, load_profile, load_profiles, transcript_warning, voice_language
from bot.testing.voice_clips import ZH_REF, ZH_TEXT


def voice(ref_text: str, ref_audio: str = ZH_REF, **over: object) -> VoiceConfig:
    return VoiceConfig.model_validate({"id": "me", "ref_audio": ref_audio, "ref_text": ref_text, **over})


def test_the_bundled_voices_are_plausible_and_hi_for_a_long_clip_is_not() -> None:
    assert transcript_warning("voices[0]", voice(ZH_TEXT), 6.21) is None
    assert transcript_warning("voices[0]", voice("Some call me nature, others call me mother nature."), 5.03) is None
    warning = transcript_warning("voices[1]", voice("Hi."), 6.6)
    assert warning == (
        "voices[1].ref_text (me): 1 syllables for 6.6 s of audio, 0.15 a second (speech runs at 1.2-10); "
        "is it exactly what the clip says?"
    )
    assert "\n" not in warning


def test_a_transcript_far_too_long_for_its_clip_is_a_warning() -> None:
    assert transcript_warning("voices[0]", voice("好" * 80), 3.0) is not None


def test_profile_of_a_wrong_transcript_warns_and_is_bounded() -> None:
    profile, warnings = load_profile(voice("Hi."), "voices[0]")
    assert len(warnings) == 1 and "voices[0].ref_text (me): 1 syllables for 6.2 s" in warnings[0]
    assert profile.lang == "en"
    # "Hi." for a 6.2 s clip is 1.55 s a byte; the engine's pace is clamped, so the 7-word line that
    # came out as a 61 s WAV is predicted at no more than 0.3 s a byte
    line = "hello from Berlin, first time here, nice"
    assert profile.predicted_seconds(line) <= 0.3 * len(line) + 1 / FRAMES_PER_SECOND
    assert profile.predicted_seconds(line) < 15


def test_a_clip_cut_at_twelve_seconds_is_a_warning(write_wav: Callable[..., Path]) -> None:
    long_clip = write_wav("long.wav", seconds=15.0)
    _, warnings = load_profile(voice("好" * 50, str(long_clip)), "voices[0]")
    assert any("voices[0].ref_audio (me): the clip is 15.0 s; only" in w for w in warnings)


def test_language_from_config_or_transcript() -> None:
    assert voice_language(voice("Some call me nature")) == "en"
    assert voice_language(voice(ZH_TEXT)) == "zh"
    assert voice_language(voice("Some call me nature", lang="zh")) == "zh"
    assert voice_language(voice("123")) == "zh"


def test_profiles_log_warnings_and_survive_an_unreadable_clip(caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config(
        {
            "voices": [
                {"id": "zh", "ref_audio": ZH_REF, "ref_text": ZH_TEXT},
                {"id": "bad", "ref_audio": "/nonexistent.wav", "ref_text": "Hi."},
                {"id": "hi", "ref_audio": ZH_REF, "ref_text": "Hi."},
            ],
            "source": {"type": "console"},
            "output": {"type": "null"},
        },
        Path("/tmp/config.yaml"),
    )
    with caplog.at_level(logging.WARNING):
        profiles = load_profiles(cfg)
    assert set(profiles) == {"zh", "bad", "hi"}
    assert profiles["bad"].rate == NOMINAL_RATE
    assert any("voices[2].ref_text (hi): 1 syllables" in r.getMessage() for r in caplog.records)
