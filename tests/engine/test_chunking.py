from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.chunking import (
    FRAMES_PER_SECOND,
    MAX_SECONDS_PER_BYTE,
    MIN_GEN_SECONDS,
    MIN_SECONDS_PER_BYTE,
    SpeakingRate,
    split_sentences,
    utf8_len,
)

# a 6 s reference whose transcript is 17 CJK characters (51 bytes)
RATE = SpeakingRate(ref_frames=int(6 * FRAMES_PER_SECOND), ref_text_bytes=51)


def seconds(frames: int) -> float:
    return frames / FRAMES_PER_SECOND


def test_duration_follows_the_reference_pace() -> None:
    # 14 CJK chars at 17 chars / 6 s -> ~4.9 s
    assert seconds(RATE.gen_frames("主播好厉害这波操作太秀了啊啊")) == pytest.approx(14 / 17 * 6, abs=0.02)
    assert seconds(RATE.gen_frames("好" * 28)) == pytest.approx(2 * seconds(RATE.gen_frames("好" * 14)), abs=0.02)


@pytest.mark.parametrize("text", ["好", "6", "ok", "哈哈", "666"])
def test_short_danmaku_get_a_floor_not_a_drawl(text: str) -> None:
    s = seconds(RATE.gen_frames(text))
    assert MIN_GEN_SECONDS - 0.02 <= s <= 1.1  # upstream's 0.3x speed trick would give 1.2-3.5 s


def test_speed_shortens() -> None:
    assert RATE.gen_frames("大家晚上好欢迎来到直播间", speed=2.0) < RATE.gen_frames("大家晚上好欢迎来到直播间")


def test_split_at_cjk_and_latin_punctuation() -> None:
    text = "你好。今天天气不错！Yes. Great, thanks"
    assert split_sentences(text, 21) == ["你好。", "今天天气不错！", "Yes. Great, thanks"]
    assert split_sentences(text, 12) == ["你好。", "今天天气", "不错！", "Yes. Great,", "thanks"]
    assert split_sentences("短句。短句。", 100) == ["短句。短句。"]


def test_overlong_sentence_is_cut_at_a_space_or_a_character() -> None:
    assert split_sentences("a" * 10 + " " + "b" * 10, 12) == ["a" * 10, "b" * 10]
    assert split_sentences("好" * 10, 9) == ["好好好", "好好好", "好好好", "好"]


@given(st.text(max_size=400), st.integers(min_value=4, max_value=200))
def test_every_piece_fits_and_no_letter_is_lost(text: str, max_bytes: int) -> None:
    pieces = split_sentences(text, max_bytes)
    assert all(0 < utf8_len(p) <= max_bytes for p in pieces)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())


def test_a_wrong_transcript_cannot_stretch_text_beyond_a_plausible_pace() -> None:
    """`ref_text: "Hi."` (with upstream's space, 4 bytes) for a 6.6 s clip: 1.65 s a byte. A 7-word line
    came out at 61 s; the pace is clamped to MAX_SECONDS_PER_BYTE, and the chunk size follows it."""
    hi = SpeakingRate.of(int(6.6 * 24_000), "Hi. ")
    line = "hello from Berlin, first time here"
    assert seconds(hi.gen_frames(line)) == pytest.approx(MAX_SECONDS_PER_BYTE * utf8_len(line), abs=0.02)
    assert seconds(hi.gen_frames(line)) < 12
    assert hi.max_chunk_bytes() >= int((22 - 6.6) / MAX_SECONDS_PER_BYTE) - 1
    squeezed = SpeakingRate.of(24_000, "好" * 200)  # 200 characters said in one second
    assert seconds(squeezed.gen_frames("好" * 10)) == pytest.approx(MIN_SECONDS_PER_BYTE * 30, abs=0.02)


def test_a_plausible_pace_is_used_as_measured() -> None:
    six_seconds = int(6 * FRAMES_PER_SECOND)
    assert SpeakingRate.of(six_seconds * 256, "好" * 17).gen_frames("好" * 17) == six_seconds
