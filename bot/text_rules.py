"""The rewriting rules that turn a cleaned chat line into something worth saying aloud.

Pure functions and small compiled rule objects, no state: `bot/filters.py` chains them. Every rule is
linear in the input (the filter has already capped the input length) and none raises on any string.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from bot.config import BlocklistConfig

_LINK = re.compile(
    r"(?i)(?:\b(?:https?|ftp)://|\bwww\.)[^\s，。！？]+"
    r"|\b[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63})*\.(?:com|cn|net|org|tv|io|me|cc|co|xyz|top|info|gg|live|ly|to)"
    r"\b(?:/[^\s，。！？]*)?"
)
"""A URL with a scheme or www., or a bare domain under a common top-level domain (with its path)."""


def has_link(text: str) -> bool:
    return _LINK.search(text) is not None


def replace_links(text: str, word: str) -> str:
    return _LINK.sub(f" {word} " if word else " ", text)


_EMOTICON = re.compile(r"\[[^\[\]\s]{1,12}\]")
"""Bilibili-style `[doge]`, `[笑哭]`: the text code of an emoticon that the client shows as a picture."""


def replace_emoticons(text: str, words: Mapping[str, str], keep_unknown: bool) -> str:
    """`[doge]` -> its word from `words`; unknown codes dropped (or kept as written)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(0)
        if code in words:
            return f" {words[code]} "
        return code if keep_unknown else " "

    return _EMOTICON.sub(one, text)


_UNIT_RUN = re.compile(r"(.{2,6}?)\1{2,}", re.DOTALL)
_CHAR_RUN = re.compile(r"(.)\1+", re.DOTALL)


def collapse_runs(text: str, max_repeat: int) -> str:
    """`哈哈哈哈哈哈` -> `哈哈哈`, `6666666` -> `666`, `？？？？？` -> `？`, `笑死笑死笑死笑死` -> `笑死笑死`.

    Spammed repetition is the commonest danmaku; read in full it is minutes of noise. A punctuation run
    becomes one mark (it only sets intonation); a character run keeps `max_repeat`; a repeated group of
    2–6 characters keeps two."""

    def chars(match: re.Match[str]) -> str:
        ch = match.group(1)
        keep = 1 if unicodedata.category(ch).startswith("P") or ch.isspace() else max_repeat
        return ch * min(keep, len(match.group(0)))

    text = _CHAR_RUN.sub(chars, text)
    return _UNIT_RUN.sub(lambda m: m.group(1) * 2, text)


class Blocklist:
    """Blocked words (case-insensitive, matched after normalisation) and regular expressions."""

    def __init__(self, cfg: BlocklistConfig) -> None:
        parts = [re.escape(word) for word in sorted(cfg.words, key=len, reverse=True)]
        parts += [f"(?:{pattern})" for pattern in cfg.regexes]
        self._pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        self._drop = cfg.action == "drop"
        self._replacement = cfg.replacement

    def apply(self, text: str) -> str | None:
        """The text with matches bleeped, or None when a match means the message is dropped."""
        if self._pattern is None:
            return text
        if self._drop:
            # Spaces slipped between letters ("b a d") do not get a word past the list.
            squeezed = text.replace(" ", "")
            return None if self._pattern.search(text) or self._pattern.search(squeezed) else text
        return self._pattern.sub(self._replacement, text)


class Substitutions:
    """A table of replacements (symbols to words, names to their pronunciation), applied in one pass,
    longest key first, case-insensitively for letters. Latin keys match whole words only."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = {key.casefold(): value for key, value in table.items()}
        keys = sorted(table, key=len, reverse=True)
        self._pattern = re.compile("|".join(_whole_word(key) for key in keys), re.IGNORECASE) if keys else None

    def apply(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._table.get(m.group(0).casefold(), m.group(0)), text)


def _whole_word(key: str) -> str:
    escaped = re.escape(key)
    if key[0].isascii() and key[0].isalnum():
        escaped = r"(?<![A-Za-z0-9])" + escaped
    if key[-1].isascii() and key[-1].isalnum():
        escaped += r"(?![A-Za-z0-9])"
    return escaped


def speech_length(text: str) -> float:
    """Length in speaking units: a wide (CJK) character is a syllable, any other character half of one,
    so a limit means about the same speaking time in Chinese and in English."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.5 for ch in text)


def truncate(text: str, max_units: float) -> tuple[str, bool]:
    """Cut `text` to at most `max_units` speaking units; (text, whether it was cut). A Latin word is
    not split when a space lies within its last 12 characters."""
    used = 0.0
    for i, ch in enumerate(text):
        used += 1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.5
        if used > max_units:
            head = text[:i]
            space = head.rfind(" ")
            if ch.isascii() and ch.isalnum() and space >= 0 and i - space <= 12:
                head = head[:space]
            return head.rstrip(" ,.;:，、；：-"), True
    return text, False


def starts_with_any(text: str, prefixes: Sequence[str]) -> bool:
    return any(text.startswith(prefix) for prefix in prefixes)
