from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import clean_text, is_speakable


def test_cleaning_keeps_speech_and_drops_the_rest() -> None:
    raw = "主播好厉害，太秀了！ ＡＢＣ\u200b\u202e x\x00y\t\n z\u0337\u031b 🎉"
    assert clean_text(raw, 100) == "主播好厉害，太秀了！ ABC xy z"


def test_cap_is_in_characters() -> None:
    assert clean_text("哈" * 10_000, 100) == "哈" * 100
    assert clean_text("a" * 10_000, 7) == "a" * 7


def test_speakable() -> None:
    assert is_speakable("6")
    assert is_speakable("好")
    assert not is_speakable("！？。…")
    assert not is_speakable(clean_text("🎉🎉🎉", 10))
    assert not is_speakable("")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=3000), st.integers(min_value=1, max_value=500))
def test_never_raises_and_is_bounded(text: str, cap: int) -> None:
    out = clean_text(text, cap)
    assert len(out) <= cap
    assert out == out.strip()
    assert "\x00" not in out and "\u202e" not in out
    is_speakable(out)
