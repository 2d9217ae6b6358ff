"""Text normalisation for speech: numbers, money, dates, times and units written out as words.

F5-TTS reads digits as the characters they are ("2026年" becomes the tokens `2 0 2 6 nian2`) and the
model then guesses, often in English; upstream's own issues recommend normalising first. The danmaku
pre-pass (bot/speech/danmaku.py) handles chat's conventions; WeNet's WeTextProcessing grammars (the
`wetext` runtime: FSTs bundled in the wheel, nothing downloaded at run time) handle the rest, in
Chinese and in English.

Why wetext: a maintained rule-based normaliser, right on money, dates, times and temperatures where
cn2an and zh-normalization were wrong or corrupted English; Latin words inside Chinese pass through
untouched (left for the model). Its cost grows faster than the text's length (60 digits take ~15 ms),
so only the pieces of a message that contain digits go through it, each at most SEGMENT_CHARS long and
at most MAX_SEGMENTS of them; digits beyond that are read one by one. No input makes `normalize` raise.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from bot.speech.danmaku import danmaku_numbers, spell_digits
from bot.speech.language import Language

log = logging.getLogger(__name__)

SEGMENT_CHARS = 24
"""The longest piece handed to wetext at once: numbers with their units and context fit easily."""
MAX_SEGMENTS = 6
"""Pieces with digits normalised per message; the digits of any further ones are read one by one."""
MAX_SEGMENT_DIGITS = 16
"""A piece with more digits than this is not a number anyone reads as a quantity: digit by digit."""

_BOUNDARY = re.compile(r"(\s+|[，。！？；、：…]+|[,!?;](?![0-9]))")
_DIGIT = re.compile(r"[0-9]")
_SPACES = re.compile(r"\s{2,}")
_SPACE_BEFORE_MARK = re.compile(r" ([,.!?;:，。！？；：、])")


class TextNormalizer(Protocol):
    """Written text to spoken text in `lang`; never raises, and the work per call is bounded."""

    def normalize(self, text: str, lang: Language) -> str: ...


class PassThroughNormalizer:
    """`text.normalize: false`, and tests that want the text as the filters left it."""

    def normalize(self, text: str, lang: Language) -> str:
        return text


class WetextNormalizer:
    """The danmaku pre-pass, then wetext on the pieces that still have digits. Built once: loading the
    grammars takes ~0.3 s; each call after that ~0.3 ms per piece."""

    def __init__(self) -> None:
        from wetext import Normalizer

        self._wetext: dict[str, Any] = {lang: Normalizer(lang=lang, operator="tn") for lang in ("zh", "en")}
        for normalizer in self._wetext.values():
            normalizer.normalize("1")  # reads the grammars now, not on the first message

    def normalize(self, text: str, lang: Language) -> str:
        if lang not in self._wetext or not _DIGIT.search(text):
            return text
        text = danmaku_numbers(text, lang)
        out: list[str] = []
        budget = MAX_SEGMENTS
        for part in _BOUNDARY.split(text):
            for piece in _pieces(part):
                if not _DIGIT.search(piece):
                    out.append(piece)
                elif budget > 0 and len(_DIGIT.findall(piece)) <= MAX_SEGMENT_DIGITS:
                    budget -= 1
                    out.append(self._wetext_piece(piece, lang))
                else:
                    out.append(spell_digits(piece, lang))
        return _SPACE_BEFORE_MARK.sub(r"\1", _SPACES.sub(" ", "".join(out))).strip()

    def _wetext_piece(self, piece: str, lang: Language) -> str:
        try:
            spoken = self._wetext[lang].normalize(piece)
        except Exception as err:  # a grammar with no path for this input: read the digits one by one
            log.debug("wetext could not normalise %r: %s", piece, err)
            return spell_digits(piece, lang)
        return spoken if isinstance(spoken, str) else spell_digits(piece, lang)


def _pieces(part: str) -> list[str]:
    """`part` in pieces of at most SEGMENT_CHARS, cut where a digit does not meet a digit."""
    pieces = []
    while len(part) > SEGMENT_CHARS:
        cut = SEGMENT_CHARS
        while cut > 1 and part[cut - 1].isdigit() and part[cut].isdigit():
            cut -= 1
        if cut == 1:
            cut = SEGMENT_CHARS
        pieces.append(part[:cut])
        part = part[cut:]
    pieces.append(part)
    return pieces
