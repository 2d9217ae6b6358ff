from __future__ import annotations

from bot.config import TextConfig
from bot.events import ChatEvent, SpeechRequest
from bot.filters import Dropped, MessageFilter


def test_template_cleaning_and_drops() -> None:
    f = MessageFilter(TextConfig(max_chars=5, template="{uname}说：{text}"), "zh")
    out = f.apply(ChatEvent(text="主播好厉害啊啊啊", uname="小\u200b明"))
    assert isinstance(out, SpeechRequest) and out.text == "小明说：主播好厉害" and out.voice == "zh"
    assert f.apply(ChatEvent(text="🎉🎉")) == Dropped("unspeakable")
    assert MessageFilter(TextConfig(min_chars=3), "zh").apply(ChatEvent(text="好")) == Dropped("too_short")


def test_braces_in_chat_are_just_text() -> None:
    out = MessageFilter(TextConfig(), "zh").apply(ChatEvent(text="{uname} {0} {text.__class__}"))
    assert isinstance(out, SpeechRequest) and out.text == "{uname} {0} {text.__class__}"
