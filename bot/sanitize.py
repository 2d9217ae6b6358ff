"""The one boundary for strings from outside: every field of a chat event, every record written to disk.

A viewer controls their message, their name and (on some platforms) ids; a JSON `"\\ud83d"` (half an emoji)
is valid JSON and becomes a lone surrogate in a Python str, which no UTF-8 encoder accepts — the audit log,
the state file and the status page all encode. A newline in a name forges log lines. So every string is
made valid Unicode scalar values (lone surrogates become U+FFFD), line breaks become a space, other
controls and invisible format characters (zero-width, bidi overrides, Hangul fillers) are removed, and the
length is capped — once, where the event is built (`ChatEvent.__post_init__`), so no later stage can meet
one. `json_safe` does the same for what is written to disk, as a second line of defence.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_EVENT_TEXT_CHARS = 8000
"""A message longer than this is cut where it enters (the filter reads at most 4 × `max_chars` ≤ 8000).
Not the engine's bound on what it synthesises (bot/engine/chunking.py's MAX_SYNTH_CHARS)."""
MAX_NAME_CHARS = 64
"""Names: Bilibili allows 16 characters, Twitch 25; room for both with any normalisation."""
MAX_ID_CHARS = 128
"""Message ids, medal names, reply targets."""
MAX_UID = 2**63 - 1

_BREAKS = re.compile("[\t-\r\x1c-\x1f\x85\u2028\u2029]+")
"""Line and paragraph breaks, tabs, separators: each run becomes one space (two lines stay two words)."""
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
"""The other controls (NUL, ESC, DEL, C1): removed."""
_INVISIBLE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
    "\u115f\u1160\u3164\uffa0]"
)
"""Every format character (category Cf: zero-width spaces and joiners, bidi overrides, the soft hyphen,
tag characters; tests/test_sanitize.py checks the list against the running Python's Unicode data), and the
Hangul fillers, letters that draw as nothing and are used to make blank names and to split words."""


def scalar_values(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (a surrogate pair is joined into its character)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def one_line(value: object, limit: int) -> str:
    """A string from outside made safe to carry everywhere: scalar values only, no controls or line
    breaks, no invisible format characters, at most `limit` characters. Not a string: ""."""
    if not isinstance(value, str):
        return ""
    text = value[: limit * 2]  # cut first: the work below is then bounded whatever arrives
    if text.isascii():
        if text.isprintable():
            return text[:limit]
        return _CONTROLS.sub("", _BREAKS.sub(" ", text))[:limit]
    text = _INVISIBLE.sub("", _CONTROLS.sub("", _BREAKS.sub(" ", scalar_values(text))))
    return text[:limit]


def bounded_int(value: object, lo: int = 0, hi: int = MAX_UID) -> int:
    """An integer field from outside: within [lo, hi], else `lo` (bool, float, str or a huge number too)."""
    if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
        return value
    return lo


def bounded_float(value: object, hi: float = 1e12) -> float:
    """A non-negative finite number from outside, else 0.0."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**63 else math.inf
        if math.isfinite(number) and 0.0 <= number <= hi:
            return number
    return 0.0


def json_safe(value: Any, depth: int = 0) -> Any:
    """A record about to be written as JSON (audit log), with every string made scalar values and one line;
    containers past a small depth are cut (records are flat; this only bounds a mistake)."""
    if isinstance(value, str):
        return one_line(value, MAX_EVENT_TEXT_CHARS)
    if depth > 8:
        return None
    if isinstance(value, dict):
        return {one_line(str(k), MAX_ID_CHARS): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
