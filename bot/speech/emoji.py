"""Emoji said by name: the common ones from a small table the streamer can extend (`text.emoji`), the
rest dropped by the cleaner as before.

An emoji run is one feeling, so 🎉🎉🎉 is said once; skin tones and presentation selectors do not
change the name. Names are Chinese by default (the audience this bot is built for); `text.emoji` adds
or overrides names, and an empty name silences one.
"""

from __future__ import annotations

import re

DEFAULT_EMOJI: dict[str, str] = {
    "😂": "笑哭", "🤣": "笑翻了", "😄": "哈哈", "😁": "嘻嘻", "😆": "大笑", "😊": "微笑", "🙂": "微笑",
    "😅": "尴尬", "😭": "大哭", "😢": "哭了", "🥺": "可怜", "😍": "花痴", "🥰": "喜欢", "😘": "飞吻",
    "😎": "酷", "🤔": "思考", "🙄": "白眼", "😏": "坏笑", "😱": "吓死了", "😡": "生气", "😴": "困了",
    "🤗": "抱抱", "🤡": "小丑", "👍": "点赞", "👎": "差评", "👏": "鼓掌", "🙏": "拜托", "💪": "加油",
    "👋": "挥手", "❤": "爱心", "💔": "心碎", "🔥": "火", "🎉": "庆祝", "🎂": "生日快乐", "🌹": "玫瑰",
    "🐶": "狗头", "🐱": "猫猫", "🐷": "猪", "🐮": "牛", "🍉": "吃瓜", "🍋": "柠檬", "🍺": "干杯",
    "💯": "一百分", "💩": "便便",
}  # fmt: skip
"""Emoji that chat uses as words, with what a Chinese viewer would call them."""

_MODIFIERS = "[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]*"
"""Presentation selectors and skin tones: part of the emoji, not a name of their own."""
_MARK = "\ue000"


class EmojiNames:
    def __init__(self, extra: dict[str, str] | None = None) -> None:
        table = {**DEFAULT_EMOJI, **{_bare(k): v.strip() for k, v in (extra or {}).items() if _bare(k)}}
        self._names = {k: v for k, v in table.items() if v}
        self._silenced = {k for k, v in table.items() if not v}
        keys = sorted(table, key=len, reverse=True)
        self._pattern = re.compile(f"({'|'.join(map(re.escape, keys))}){_MODIFIERS}(?:\\1{_MODIFIERS})*")

    def say(self, text: str) -> str:
        """Each run of a known emoji replaced by its name, set off by commas from the words around it."""
        if text.isascii():
            return text
        marked = self._pattern.sub(lambda m: f"{_MARK}{self._names.get(m.group(1), '')}{_MARK}", text)
        if marked == text:
            return text
        pieces = [p for p in marked.split(_MARK) if p.strip()]
        out = ""
        for piece in pieces:
            if out and not _pause_at(out[-1]) and not _pause_at(piece[0]):
                out += "，"
            out += piece
        return out


def _bare(emoji: str) -> str:
    """A table key without its presentation selector or skin tone (❤️ and ❤ are one emoji)."""
    return re.sub(_MODIFIERS, "", emoji.strip())


def _pause_at(ch: str) -> bool:
    return ch.isspace() or ch in "，。！？、；：,.!?;:…~～"
