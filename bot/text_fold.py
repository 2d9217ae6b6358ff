"""The folded form the blocklist matches on, so that a blocked word cannot be spelt past it.

Viewers get a word past a plain substring match by changing how it looks, not what it says: `bad_word`,
`笨|蛋`, `笨·蛋`, `b a d`, a Hangul filler (U+3164, drawn as nothing) between letters, full-width or
mathematical letters, accents, or a Cyrillic `а` for the Latin `a`. Folding undoes each: compatibility
decomposition (NFKD: full-width, ligatures, mathematical letters, accents split off), look-alike letters
mapped to the ASCII letter they imitate, case folded, and everything but letters and digits dropped
(punctuation, symbols, spaces, marks, fillers). Words and text are folded the same way, one character at a
time, keeping where each folded character came from, so `replace` mode can bleep the original span.

The look-alike table is the part of Unicode's confusables data (UTS #39, `confusables.txt`) that matters
here: the 380 letters and digits, stable under NFKD and not already ASCII after case folding, that Unicode
lists as confusable with a single ASCII letter or digit (Cyrillic, Greek, Armenian, Cherokee, Lisu, Coptic,
Canadian syllabics, other scripts' digits...). A full TR39 skeleton maps ~6,000 characters to sequences,
most of them between non-Latin scripts; a blocklist of Chinese and Latin words needs only this slice,
which fits in a few lines and no dependency. It was extracted from the data shipped with
confusable-homoglyphs 3.3.1 (PyPI; generated from Unicode's confusables.txt): for each such character the
ASCII look-alike of the same kind (digit for a digit, same case first), lowercased.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_FROM = (
    "ıƄƍƖƦƧƷƼƽǀȜȢȣɑɡɣɩɪɯʋʏͿΑΒΕΖΗΙΚΜΝΟΡΤΥΧαγιν"
    "ορσυϜϨϳϺЅІЈАВЕЗКМНОРСТУХЬабгеорсухѕіјѡѴѵ"
    "ҮүһҽӀӏӠԁԌԛԜԝՍՏՕագզհոռսցքօ\u06f1\u06f5\u06f7\u0966\u09e6\u09ea\u09ed\u0a66\u0a67\u0a6a\u0ae6ଠ\u0b66\u0b68\u0be6"
    "\u0c66\u0ce6ഠ\u0d66\u0d6d\u0e50\u0ed0ဝ\u1040ყჿሀዐᎠᎡᎢᎥᎩᎪᎫᎬᎳᎷᎻᎽᏀᏂᏃᏎᏏᏒᏔᏕᏙᏚᏞᏟᏢᏦᏧ"
    "ᏮᏳᏴᐯᑌᑭᑯᑲᒍᒪᒿᕁᕼᕽᖇᖯᖴᗅᗞᗪᗰᗷᚷᛁᛕᛖᴄᴏᴑᴜᴠᴡᴢᴦᶃᶌẝỿⲅⲎ"
    "ⲒⲔⲘⲚⲞⲟⲢⲣⲤⲥⲦⲨⲬⳊⳌⳐⳒⴸⴹⵏⵔⵕⵝ\u3007\ua4d0\ua4d1\ua4d2\ua4d3\ua4d4\ua4d6\ua4d7\ua4d9\ua4da\ua4dc\ua4dd\ua4df\ua4e0\ua4e1\ua4e2\ua4e3"
    "\ua4e6\ua4e7\ua4ea\ua4eb\ua4ec\ua4ee\ua4f0\ua4f2\ua4f3\ua4f4\ua644\ua647\ua6df\ua6ef\ua731\ua75a\ua76a\ua76e\ua798\ua799\ua79f\ua7ab\ua7b2\ua7b3\ua7b4\uab32\uab35\uab3d\uab47\uab48\uab4e\uab52\uab5a\uab75\uab81\uab83\uab93\uaba9\uabaa\uabaf"
    "\U00010282\U00010286\U00010287\U0001028a\U00010290\U00010292\U00010295\U00010296\U00010297\U000102a0\U000102a1\U000102a2\U000102a5\U000102ab\U000102b0\U000102b1\U000102b2\U000102b4\U000102cf\U000102f5\U00010301\U00010302\U00010309\U00010311\U00010315\U00010317\U0001031a\U00010320\U00010322\U00010404\U00010415\U0001041b\U00010420\U0001042c\U0001043d\U00010448\U000104b4\U000104c2\U000104ce\U000104d2"
    "\U000104ea\U000104f6\U00010513\U00010516\U00010518\U0001051c\U0001051d\U00010525\U00010526\U00010527\U000114d0\U00011706\U0001170a\U0001170e\U0001170f\U000118a0\U000118a2\U000118a3\U000118a4\U000118a6\U000118a9\U000118ac\U000118ae\U000118af\U000118b2\U000118b5\U000118b8\U000118bb\U000118bc\U000118c0\U000118c1\U000118c2\U000118c3\U000118c4\U000118c6\U000118c8\U000118ca\U000118cc\U000118d5\U000118d6"
    "\U000118d7\U000118d8\U000118dc\U000118e0\U000118e5\U000118e6\U000118e9\U000118ec\U000118ef\U000118f2\U00016f08\U00016f0a\U00016f16\U00016f28\U00016f35\U00016f3a\U00016f3b\U00016f40\U00016f42\U00016f43"
)
_TO = (
    "ibglr235sl388agyiiwuyjabezhlkmnoptyxayiv"
    "opouf2jmsljabe3kmhopctyxba6reopcyxsijwvv"
    "yyheli3dgqwwusowqqhnnugfolovoo89o98ooo9o"
    "oooo9ooooyouodrtiyajewmhyghz4brwsvslcpkd"
    "6gbvupdbjl2xhxrbfaddmbxlkmcoouvwzrgyfyrh"
    "lkmnooppcctyx93l6veloqxobpddtgkjczfmnlsr"
    "vhwxyaelou2iv2s239ffu3jxbeforruuyirwzvsc"
    "beflxopstabcfomtyxhzbclmtx8lxoclsocsrou7"
    "ounokcvflxovwwwvflyez9e4lou5tvsfiz7o3969"
    "ouyozwcxwcvtllrs3auy"
)
_LOOKALIKES = str.maketrans(_FROM, _TO)
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
"""Hangul fillers: letters (category Lo) that draw as nothing."""


@lru_cache(maxsize=65536)
def fold_char(ch: str) -> str:
    """What one character folds to: "" for anything but letters and digits, else one or more of them."""
    out = []
    for part in unicodedata.normalize("NFKD", ch).translate(_LOOKALIKES).casefold():
        if unicodedata.category(part)[0] in "LN" and part not in _FILLERS:
            out.append(part)
    return "".join(out)


def fold(text: str) -> str:
    return "".join(map(fold_char, text))


def fold_with_index(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each of its characters, the index in `text` it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        part = fold_char(ch)
        if part:
            folded.append(part)
            origin.extend([i] * len(part))
    return "".join(folded), origin
