"""Cleaning chat text into something a TTS model can say.

Chat is hostile input: control characters, zero-width joiners, bidi overrides, emoji-only lines and
10 000-character pastes all arrive. `clean_text` never raises and its output is bounded by `max_chars`.

Text is cleaned once, where it enters speech: a chat message by the filter (bot/filters.py), an
operator's or the bot's own line where it is made. What is added later (templates, the truncation cue)
is cleaned once when its config is read, so the speech stage and the engine get clean text by
construction and do not clean again.
"""

from __future__ import annotations

import re
import string
import unicodedata

_DROP_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "So", "Sk", "Mn", "Me"}
"""Control, format (zero-width, bidi), private use, surrogates, unassigned, emoji/symbols, and combining
marks (zalgo); NFKC has already composed the combining marks that belong to a letter."""

_SPACE = re.compile(r"\s+")

_CJK_PUNCTUATION = re.compile(r"([，！？：；（）])")
"""Full-width punctuation that NFKC would fold to ASCII. F5-TTS was trained on Chinese text that uses
it (upstream splits sentences on it), so it is kept as written."""


def _nfkc(text: str) -> str:
    return "".join(
        part if _CJK_PUNCTUATION.fullmatch(part) else unicodedata.normalize("NFKC", part)
        for part in _CJK_PUNCTUATION.split(text)
    )


def clean_text(text: str, max_chars: int) -> str:
    """NFKC-normalise (CJK punctuation kept), drop unspeakable characters, collapse whitespace, and cap
    at `max_chars` characters."""
    text = _nfkc(text[: max_chars * 4])
    kept = "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _DROP_CATEGORIES
    )
    kept = _SPACE.sub(" ", kept).strip()
    if len(kept) > max_chars:
        kept = kept[:max_chars].rstrip()
    return kept


def is_speakable(text: str) -> bool:
    """True when at least one letter or digit is left: punctuation alone says nothing."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def clean_template(template: str, max_chars: int = 200) -> str:
    """A `str.format` template with its literal text cleaned and its `{fields}` kept as they are."""
    out = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        kept = clean_text(literal, max_chars).replace("{", "{{").replace("}", "}}")
        lead = " " if literal[:1].isspace() and kept else ""
        trail = " " if literal[-1:].isspace() else ""
        out.append(lead + kept + trail if kept else trail)
        if field is not None:
            out.append("{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)
