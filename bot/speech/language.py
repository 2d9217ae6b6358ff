"""Which language a text is in, by its script, and how many syllables it has.

Chat is short and mixed ("主播666 nice"), so a statistical language detector has too little to go on;
the script says enough for choosing a voice and a normaliser: Han characters are Chinese (or Japanese
when kana are present), Hangul Korean, Latin letters English (the Latin-script language the model
speaks). Each script is weighed in syllables, so "主播好厉害 nice" is Chinese and "hello from Berlin,
first time here" English.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["zh", "en", "ja", "ko"]
LANGUAGES: tuple[Language, ...] = ("zh", "en", "ja", "ko")

_LATIN_WORD = re.compile(r"(?<![0-9A-Za-z°])[A-Za-z\u00c0-\u024f]+(?:'[A-Za-z]+)?(?![0-9A-Za-z])")
"""A Latin word; letters glued to a number (1v1, 10km, 3k, iPhone15) are a unit or a name, not English."""
_VOWEL_GROUPS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿ]+", re.IGNORECASE)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\U00020000" <= ch <= "\U0002ebef"


def _is_kana(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff"


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3"


def english_syllables(word: str) -> int:
    """A vowel-group count, less a silent final e: within one syllable on most English words, which is
    all a speaking-rate check needs. A word without vowels ("GG", "wp") is spelled out: one per letter,
    at most three."""
    groups = len(_VOWEL_GROUPS.findall(word))
    lower = word.lower()
    if groups > 1 and lower.endswith("e") and not lower.endswith(("le", "ee", "ye")):
        groups -= 1
    return groups if groups else min(len(word), 3)


def syllables_by_language(text: str) -> dict[Language, int]:
    """Syllables of each script in `text`: a Han, kana or Hangul character is one, a Latin word its
    estimated count."""
    han = sum(1 for ch in text if _is_han(ch))
    kana = sum(1 for ch in text if _is_kana(ch))
    counts: dict[Language, int] = {
        "zh": 0 if kana else han,
        "ja": kana + han if kana else 0,
        "ko": sum(1 for ch in text if _is_hangul(ch)),
        "en": sum(english_syllables(w) for w in _LATIN_WORD.findall(text)),
    }
    return counts


def dominant_language(text: str) -> Language | None:
    """The language with the most syllables in `text`; None when no script has any (digits, emoji
    names already spoken as words aside) or two tie, so the caller keeps what it had."""
    counts = syllables_by_language(text)
    best = max(counts.values())
    if best == 0:
        return None
    leaders = [lang for lang, n in counts.items() if n == best]
    return leaders[0] if len(leaders) == 1 else None


def syllable_count(text: str) -> int:
    """All syllables of `text`, digits included (one each): the size of a transcript for a rate check."""
    return sum(syllables_by_language(text).values()) + sum(1 for ch in text if ch.isdigit())
