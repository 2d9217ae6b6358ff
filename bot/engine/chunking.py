"""Text to model-sized pieces, and how long each piece should sound.

F5-TTS generates a mel of a length chosen up front, so duration is predicted from the reference's
speaking rate (bytes of UTF-8 per frame, as upstream does, which weighs a CJK character like three Latin
letters). Upstream slows text under 10 bytes to 0.3x speed, which turns a 1-3 character danmaku into a
long drawl; here short text gets a floor instead, long enough for the model to finish a syllable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HOP_LENGTH = 256
FRAMES_PER_SECOND = 24_000 / HOP_LENGTH

MIN_GEN_SECONDS = 0.5
"""The shortest generated audio: one CJK syllable or a short English word fits comfortably."""

MAX_TOTAL_SECONDS = 22.0
"""F5-TTS was trained on clips up to ~30 s; upstream keeps reference + generated under 22 s (the default
of `model.max_pass_s`)."""

MAX_SYNTH_CHARS = 1000
"""The longest text the engine takes for one request: bounded work per utterance. The speech stage cuts
to it (bot/speech/prepare.py); the engine only checks it. (Not the bound where chat enters:
bot/sanitize.py's MAX_EVENT_TEXT_CHARS.)"""

MIN_SECONDS_PER_BYTE = 0.025
MAX_SECONDS_PER_BYTE = 0.3
"""The pace a voice's transcript may set, per byte of UTF-8 text. Speech runs at about 1.2-10 syllables
a second (bot/speech/voices.py says why); a CJK character is 3 bytes and an English syllable about 4
(the bundled voices: 0.12 and 0.10 s a byte), so 1.2 CJK characters a second is 0.28 s a byte and 10
English syllables 0.025. A transcript outside that (a wrong `ref_text`: "Hi." for a 6.6 s clip would
be 1.65 s a byte) is clamped, so no text is stretched beyond a plausible length (or squeezed)."""

_SENTENCE_END = re.compile(r"(?<=[.!?;:,])\s+|(?<=[。！？；：，、…~～])")


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def model_transcript(ref_text: str) -> str:
    """The transcript as the model is given it: a Latin one ends with a space (upstream), so that the
    new text starts a new word."""
    ref_text = ref_text.strip()
    return ref_text + " " if ref_text and len(ref_text[-1].encode("utf-8")) == 1 else ref_text


@dataclass(frozen=True)
class SpeakingRate:
    """A voice's pace: frames of mel per byte of transcript (clamped to a plausible pace)."""

    ref_frames: int
    ref_text_bytes: int

    @classmethod
    def of(cls, samples: int, transcript: str) -> SpeakingRate:
        """The pace of a prepared clip of `samples` at 24 kHz and its `model_transcript`."""
        return cls(ref_frames=samples // HOP_LENGTH, ref_text_bytes=max(utf8_len(transcript), 1))

    def _frames_per_byte(self) -> float:
        frames_per_byte = self.ref_frames / self.ref_text_bytes
        low, high = MIN_SECONDS_PER_BYTE * FRAMES_PER_SECOND, MAX_SECONDS_PER_BYTE * FRAMES_PER_SECOND
        return min(max(frames_per_byte, low), high)

    def gen_frames(self, text: str, speed: float = 1.0) -> int:
        return self.frames_for_bytes(utf8_len(text), speed)

    def frames_for_bytes(self, n_bytes: int, speed: float = 1.0) -> int:
        """Frames generated for a text of `n_bytes` of UTF-8 (at least MIN_GEN_SECONDS' worth)."""
        estimate = self._frames_per_byte() * n_bytes / speed
        floor = MIN_GEN_SECONDS * FRAMES_PER_SECOND / speed
        return max(int(estimate), int(floor))

    def bytes_for(self, seconds: float, speed: float = 1.0) -> int:
        """Bytes of text this voice says in about `seconds`."""
        return int(seconds * FRAMES_PER_SECOND / self._frames_per_byte() * speed)

    def max_chunk_bytes(self, speed: float = 1.0, max_total_s: float = MAX_TOTAL_SECONDS) -> int:
        """Bytes of text that fit in one generation alongside the reference (upstream's rule)."""
        ref_seconds = self.ref_frames / FRAMES_PER_SECOND
        room = max(max_total_s - ref_seconds, 2.0)
        bytes_per_second = FRAMES_PER_SECOND / self._frames_per_byte()
        return max(int(bytes_per_second * room * speed), 12)


def split_sentences(text: str, max_bytes: int) -> list[str]:
    """Split at sentence punctuation (CJK and Latin), merging pieces up to `max_bytes` of UTF-8.

    A single sentence longer than `max_bytes` is cut at a space if there is one, else at a character
    boundary, so every piece fits and no character is ever split.
    """
    pieces: list[str] = []
    current = ""
    for sentence in clauses(text):
        for part in _hard_split(sentence, max_bytes):
            joined = join(current, part)
            if current and utf8_len(joined) > max_bytes:
                pieces.append(current)
                current = part
            else:
                current = joined
    if current:
        pieces.append(current)
    return pieces


def clauses(text: str) -> list[str]:
    """`text` cut after each sentence or clause mark (CJK and Latin), stripped, empty ones left out."""
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text.strip())) if s]


def join(head: str, tail: str) -> str:
    """Two pieces of text as one: a space between Latin ones, nothing between CJK ones."""
    if not head or not tail:
        return head or tail
    return head + (" " if head[-1].isascii() and tail[0].isascii() else "") + tail


def _hard_split(sentence: str, max_bytes: int) -> list[str]:
    out: list[str] = []
    while utf8_len(sentence) > max_bytes:
        cut, size = 0, 0
        for i, ch in enumerate(sentence):
            size += utf8_len(ch)
            if size > max_bytes:
                break
            cut = i + 1
        space = sentence.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space
        out.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        out.append(sentence)
    return [p for p in out if p]
