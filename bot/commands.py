"""Parsing moderator commands typed in chat: `#tts mute @name 10m`, `#语音 跳过`.

Pure parsing, no permissions and no effects (those are `bot/moderation.py`'s). The text is NFKC-folded
first, so a full-width `＃ｔｔｓ` from a Chinese input method is the same prefix. Chinese aliases may
follow the prefix without a space (`#tts跳过`); English ones need a word boundary (`#tts skipper` is
not `skip`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from bot.sanitize import one_line


class Verb(str, Enum):
    MUTE = "mute"
    UNMUTE = "unmute"
    SKIP = "skip"
    CLEAR = "clear"
    PAUSE = "pause"
    RESUME = "resume"
    VOICE = "voice"
    STATUS = "status"


ALIASES: dict[str, Verb] = {
    "mute": Verb.MUTE,
    "静音": Verb.MUTE,
    "禁言": Verb.MUTE,
    "闭嘴": Verb.MUTE,
    "unmute": Verb.UNMUTE,
    "解除静音": Verb.UNMUTE,
    "取消静音": Verb.UNMUTE,
    "解禁": Verb.UNMUTE,
    "skip": Verb.SKIP,
    "跳过": Verb.SKIP,
    "下一个": Verb.SKIP,
    "切": Verb.SKIP,
    "clear": Verb.CLEAR,
    "清空": Verb.CLEAR,
    "pause": Verb.PAUSE,
    "暂停": Verb.PAUSE,
    "resume": Verb.RESUME,
    "继续": Verb.RESUME,
    "恢复": Verb.RESUME,
    "voice": Verb.VOICE,
    "声音": Verb.VOICE,
    "音色": Verb.VOICE,
    "status": Verb.STATUS,
    "状态": Verb.STATUS,
}
_BY_LENGTH = sorted(ALIASES, key=len, reverse=True)

LAST_WORDS = frozenset({"last", "上一个", "刚才", "刚刚"})
"""`mute last`: the viewer whose message was spoken last."""
FOREVER_WORDS = frozenset({"forever", "permanent", "perm", "永久"})
RESET_WORDS = frozenset({"default", "reset", "默认", "重置"})
"""`voice reset @name`: the viewer goes back to the default voice."""

MAX_ARGS = 4


@dataclass(frozen=True)
class Command:
    verb: Verb
    args: tuple[str, ...]
    raw: str


@dataclass(frozen=True)
class BadCommand:
    """It was addressed to us (it has the prefix) but cannot be understood; never spoken either."""

    reason: str
    raw: str


def parse_command(text: str, prefixes: Sequence[str]) -> Command | BadCommand | None:
    """None when `text` is not addressed to the bot (no prefix). The prefix is found in any form that
    reads the same: full-width, any case, with spaces or invisible characters slipped between its
    characters (`# tts`, `#\u200btts`): a message that reads as a command is never spoken as speech.
    The text is made one line first (`bot/sanitize.py`): commands from the HTTP API do not pass through a
    ChatEvent, and what a command says is logged and audited."""
    norm = _DIGITS.sub(_ascii_digit, one_line(unicodedata.normalize("NFKC", text[:300]), 300)).strip()
    for prefix in sorted(prefixes, key=len, reverse=True):
        p = unicodedata.normalize("NFKC", prefix).casefold().replace(" ", "")
        end = _after_prefix(norm, p)
        if end is not None:
            rest = norm[end:]
            if rest and _is_word(p[-1]) and _is_word(rest[0]):
                return None  # "#ttsfan" is someone's hashtag, not "#tts" + "fan"
            break
    else:
        return None
    rest = rest.strip()
    if not rest:
        return BadCommand("no command given (skip, mute, unmute, clear, pause, resume, voice, status)", norm)
    lowered = rest.casefold()
    for alias in _BY_LENGTH:
        if lowered.startswith(alias):
            after = rest[len(alias) :]
            if after and _is_word(alias[-1]) and _is_word(after[0]):
                continue
            return Command(ALIASES[alias], tuple(after.split()[:MAX_ARGS]), norm)
    return BadCommand(f"unknown command {rest.split()[0][:20]!r}", norm)


_DIGITS = re.compile(r"\d")
"""Any decimal digit (Arabic-Indic, Devanagari, ...) is folded to ASCII, so uids and durations read alike."""


def _ascii_digit(match: re.Match[str]) -> str:
    ch = match.group(0)
    digit = unicodedata.decimal(ch, None)
    return ch if digit is None else str(digit)


def _after_prefix(text: str, prefix: str) -> int | None:
    """Where `text` continues after `prefix` (casefolded, without spaces), spaces between its characters
    allowed; None when it does not start with it."""
    i = 0
    for want in prefix:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text) or text[i].casefold() != want:
            return None
        i += 1
    return i


def _is_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


MIN_MUTE_S = 10.0
"""A shorter mute does nothing a moderator wants, but it still purges the viewer's queued (paid) messages."""

_DURATION = re.compile(
    r"^([0-9]{1,9}(?:\.[0-9]{1,3})?)\s*(s|sec|secs|秒|秒钟|m|min|mins|分|分钟|h|hr|hrs|hour|hours|小时|时|d|day|days|天)?$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "秒": 1, "m": 60, "分": 60, "h": 3600, "小": 3600, "时": 3600, "d": 86400, "天": 86400}


def parse_duration(text: str) -> float | None:
    """`30s`, `10m`, `2h`, `1d`, `10分钟`, `2小时`, a bare number of minutes; None = permanent
    (`forever`/`永久`). Raises ValueError with a short reason."""
    if text.casefold() in FOREVER_WORDS:
        return None
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text[:20]!r} (like 30s, 10m, 2h, 1d, 10分钟, forever)")
    unit = (match.group(2) or "m")[0].lower()
    seconds = float(match.group(1)) * _UNIT_SECONDS[unit]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"not a duration: {text[:20]!r}")
    if seconds < MIN_MUTE_S:
        raise ValueError(f"shortest mute is {MIN_MUTE_S:g}s")
    return seconds
