"""The rewriting rules that turn a cleaned chat line into something worth saying aloud.

Pure functions and small compiled rule objects, no state: `bot/filters.py` chains them. Every rule is
linear in the input (the filter has already capped the input length) and none raises on any string.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

import re2

from bot.config import BlocklistConfig, compile_linear
from bot.text_fold import fold, fold_with_index

_SCHEME_LINK = re.compile(r"(?i)(?:(?:https?|ftp)://|www\.)[^\s，。！？]+")
"""A URL with a scheme or `www.`: a literal start, then everything up to a space or sentence end."""
_DOTTED = re.compile(r"(?i)[a-z0-9-]+(?:\.[a-z0-9-]+)*")
"""A maximal run of labels. Nothing follows the repetition that could fail, so the engine never backtracks
into it and `finditer` resumes after each run: linear in the text (the old single pattern for bare
domains retried every start inside a dotted run — quadratic, 32 s of frozen loop on 20 long messages)."""
_PATH = re.compile(r"/[^\s，。！？]*")
_TLDS = frozenset(
    {"com", "cn", "net", "org", "tv", "io", "me", "cc", "co", "xyz", "top", "info", "gg", "live", "ly", "to"}
)
"""The common top-level domains a bare domain is recognised by."""


def _link_spans(text: str) -> list[tuple[int, int]]:
    """Where the links are: URLs with a scheme or www., and bare domains under a common top-level domain
    (the labels up to the last such one in a dotted run, with a following /path)."""
    spans = [m.span() for m in _SCHEME_LINK.finditer(text)]
    for run in _DOTTED.finditer(text):
        labels = run.group(0).split(".")
        last = max((i for i in range(1, len(labels)) if labels[i].lower() in _TLDS), default=0)
        if not last:
            continue
        end = run.start() + len(".".join(labels[: last + 1]))
        if end == run.end() and (path := _PATH.match(text, end)):
            end = path.end()
        spans.append((run.start(), end))
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        elif end > start:
            out.append((start, end))
    return out


def _replace_spans(text: str, spans: list[tuple[int, int]], word: str) -> str:
    parts, at = [], 0
    for start, end in spans:
        parts += [text[at:start], word]
        at = end
    return "".join([*parts, text[at:]])


def has_link(text: str) -> bool:
    return bool(_link_spans(text))


def replace_links(text: str, word: str) -> str:
    return _replace_spans(text, _link_spans(text), f" {word} " if word else " ")


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
    """Blocked words and regular expressions. Words match on the folded form (`bot/text_fold.py`: case,
    width, accents, look-alike letters, and every space, punctuation mark, symbol or filler between the
    characters ignored), regexes on the text as written and on the folded form; all through RE2, so the
    time is linear in the text whatever the streamer wrote."""

    def __init__(self, cfg: BlocklistConfig) -> None:
        folded = {fold(word) for word in cfg.words}
        literal = [word for word in cfg.words if not fold(word)]  # all punctuation: matched as written
        alternatives = [re2.escape(word) for word in sorted(folded - {""}, key=len, reverse=True)]
        self._words = compile_linear("|".join(alternatives), case_sensitive=True) if alternatives else None
        patterns = [re2.escape(word) for word in literal] + [f"(?:{pattern})" for pattern in cfg.regexes]
        self._regex = compile_linear("|".join(patterns)) if patterns else None
        self._drop = cfg.action == "drop"
        self._replacement = cfg.replacement

    def apply(self, text: str) -> str | None:
        """The text with matches bleeped, or None when a match means the message is dropped."""
        if self._words is None and self._regex is None:
            return text
        folded, origin = fold_with_index(text)
        spans: list[tuple[int, int]] = []
        passes = ((self._words, folded, True), (self._regex, text, False), (self._regex, folded, True))
        for pattern, target, mapped in passes:
            if pattern is None:
                continue
            for match in pattern.finditer(target):
                start, end = match.span()
                if end > start:
                    spans.append((origin[start], origin[end - 1] + 1) if mapped else (start, end))
                    if self._drop:
                        return None
        return _replace_spans(text, _merged(spans), self._replacement)


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
