"""The speech stage: the voice for the message's language, the text normalised, the duration bounded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import SpokenConfig
from bot.engine.chunking import FRAMES_PER_SECOND, MAX_SYNTH_CHARS, SpeakingRate
from bot.events import ChatEvent, SpeechRequest
from bot.speech.normalizer import PassThroughNormalizer, TextNormalizer
from bot.speech.prepare import Prepared, SpeechPreparer, shared_normalizer
from bot.speech.voices import VoiceProfile
from bot.text_rules import speech_length

ZH_PACE = SpeakingRate(ref_frames=int(6.21 * FRAMES_PER_SECOND), ref_text_bytes=51)  # the bundled zh voice
EN_PACE = SpeakingRate(ref_frames=int(5.03 * FRAMES_PER_SECOND), ref_text_bytes=52)
PROFILES = {
    "zh": VoiceProfile("zh", "zh", ZH_PACE),
    "zh2": VoiceProfile("zh2", "zh", ZH_PACE),
    "en": VoiceProfile("en", "en", EN_PACE),
}


def preparer(
    own: Callable[[int], bool] = lambda uid: False,
    normalizer: TextNormalizer | None = None,
    profiles: dict[str, VoiceProfile] | None = None,
    **cfg: object,
) -> SpeechPreparer:
    return SpeechPreparer(
        SpokenConfig.model_validate(cfg),
        PROFILES if profiles is None else profiles,
        normalizer or shared_normalizer(),
        own,
        truncation_cue="等等",
    )


def request(text: str, voice: str = "zh", uid: int = 7) -> SpeechRequest:
    return SpeechRequest(text=text, voice=voice, event=ChatEvent(text=text, uid=uid), seq=1)


def test_english_chat_goes_to_the_english_voice_and_is_read_the_english_way() -> None:
    out = preparer().prepare(request("hello from Berlin, first time here, 2 hours ago"))
    assert out.request.voice == "en"
    assert out.request.text == "hello from Berlin, first time here, two hours ago"
    assert not out.shortened


def test_chinese_chat_goes_to_the_first_chinese_voice_from_an_english_default() -> None:
    out = preparer().prepare(request("主播666", voice="en"))
    assert (out.request.voice, out.request.text) == ("zh", "主播六六六")


def test_chat_in_the_voice_s_own_language_keeps_the_voice() -> None:
    assert preparer().prepare(request("主播好", voice="zh2")).request.voice == "zh2"
    out = preparer().prepare(request("666", voice="en")).request
    assert (out.voice, out.text) == ("en", "six six six")


def test_a_voice_a_moderator_gave_stays_whatever_the_language() -> None:
    out = preparer(own=lambda uid: uid == 7).prepare(request("hello there, first time here"))
    assert out.request.voice == "zh"
    assert preparer(own=lambda uid: uid == 7).prepare(request("hello there", uid=8)).request.voice == "en"


def test_routing_off_and_no_voice_for_the_language() -> None:
    assert preparer(voice_by_language=False).prepare(request("hello there")).request.voice == "zh"
    only_zh = {"zh": PROFILES["zh"]}
    assert preparer(profiles=only_zh).prepare(request("hello there")).request.voice == "zh"
    assert preparer().prepare(request("こんにちは")).request.voice == "zh"  # no Japanese voice configured


def test_normalising_off_leaves_the_text() -> None:
    req = request("主播666")
    assert preparer(normalizer=PassThroughNormalizer()).prepare(req) == Prepared(req)


def test_an_unchanged_request_is_the_same_object() -> None:
    req = request("主播好厉害")
    assert preparer().prepare(req).request is req


def test_a_message_over_max_audio_s_is_cut_with_the_cue_and_counted() -> None:
    text = "今天晚上八点还有一场特别活动不要错过哦" * 4
    p = preparer(max_audio_s=5.0)
    out = p.prepare(request(text))
    assert out.shortened
    assert out.request.text.endswith("，等等")
    assert text.startswith(out.request.text.removesuffix("，等等"))
    assert PROFILES["zh"].predicted_seconds(out.request.text) <= 5.0
    # the longest head that fits: one more character would not
    head = out.request.text.removesuffix("，等等")
    longer = text[: len(head) + 1] + "，等等"
    assert PROFILES["zh"].predicted_seconds(longer) > 5.0


def test_an_english_message_is_cut_between_words() -> None:
    text = "this is a very long message that keeps going and going " * 3
    out = preparer(max_audio_s=3.0).prepare(request(text, voice="en"))
    assert out.shortened and out.request.text.endswith(", 等等")
    assert text.startswith(out.request.text.removesuffix(", 等等") + " ")


def test_what_fits_is_not_cut() -> None:
    assert not preparer(max_audio_s=5.0).prepare(request("主播晚上好")).shortened


def test_hi_transcript_cannot_make_a_minute_of_audio() -> None:
    """`ref_text: "Hi."` for a 6.6 s clip: the engine's pace is clamped, and max_audio_s caps the rest."""
    hi = VoiceProfile("hi", "en", SpeakingRate.of(int(6.6 * 24_000), "Hi. "))
    p = preparer(profiles={"hi": hi})
    line = p.prepare(request("hello from Berlin, first time here", voice="hi"))
    assert hi.predicted_seconds(line.request.text) < 12 and not line.shortened
    paste = p.prepare(request("hello from Berlin, first time here " * 20, voice="hi"))
    assert paste.shortened and hi.predicted_seconds(paste.request.text) <= 20.0


def test_a_voice_without_a_profile_is_left_alone() -> None:
    out = preparer().prepare(request("hello " * 150, voice="gone"))
    assert out.request.voice == "gone" and not out.shortened


def test_the_engines_bound_is_kept_here_so_the_engine_only_checks_it() -> None:
    """Written-out numbers lengthen a text; past the engine's bound it is cut here (and counted), where
    the engine would refuse it (tests/engine/test_synthesizer.py)."""
    out = preparer().prepare(request("hello " * 400, voice="gone"))
    assert out.shortened and len(out.request.text) <= MAX_SYNTH_CHARS


def test_a_failing_stage_says_the_text_as_written() -> None:
    class Broken:
        def normalize(self, text: str, lang: str) -> str:
            raise RuntimeError("boom")

    req = request("主播666")
    assert preparer(normalizer=Broken()).prepare_all([req]) == [Prepared(req)]  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["zh", "en"]), st.floats(2.0, 60.0))
def test_any_text_is_prepared_and_bounded(text: str, voice: str, limit: float) -> None:
    out = preparer(max_audio_s=limit).prepare_all([request(text, voice=voice)])[0]
    assert isinstance(out.request.text, str)
    profile = PROFILES[out.request.voice]
    if out.shortened:  # as the engine predicts it
        assert profile.predicted_seconds(out.request.text) <= limit
    assert len(out.request.text) <= MAX_SYNTH_CHARS
    assert speech_length(out.request.text) <= 8 * speech_length(text) + 16


@pytest.mark.parametrize("cue", ["", "等等"])
def test_cut_without_a_cue(cue: str) -> None:
    p = SpeechPreparer(SpokenConfig(max_audio_s=2.0), PROFILES, shared_normalizer(), lambda uid: False, cue)
    out = p.prepare(request("好" * 100))
    assert out.shortened and out.request.text.startswith("好") and out.request.text.endswith(cue)
