"""Text planning: a request's text into model-sized pieces, each with its tokens and its length in frames.

The text arrives clean and bounded (the filter cleans it once, the speech stage bounds it: see
bot/speech/prepare.py); here that bound is only checked, cheaply. A text needing more than one model
pass gets a short first piece (its first clauses, up to about a short danmaku's length): that piece is
synthesised alone and heard while the rest is synthesised (bot/engine/synthesizer.py streams it), so a
super chat starts about as soon as a short danmaku. Streamed or not, the same pieces are spoken.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bot.engine.backend import Backend
from bot.engine.chunking import MAX_SYNTH_CHARS, clauses, join, split_sentences, utf8_len
from bot.engine.voice_bank import Voice
from bot.errors import TextError
from bot.text import is_speakable

HEAD_SECONDS = 3.0
"""The first piece of a long text is at most about this long (whole clauses; one longer first clause is
kept whole): a short danmaku's length, so the first sound of a long message comes about as soon."""


@dataclass
class Piece:
    """One model call's worth of text: a sentence group of one request."""

    request: int
    text: str
    voice: Voice
    ids: torch.Tensor
    duration: int
    """Frames to sample: the reference's and the generated ones."""

    @property
    def ref_mel(self) -> torch.Tensor:
        return self.voice.ref_mel

    @property
    def ref_frames(self) -> int:
        return self.voice.rate.ref_frames

    @property
    def ref_rms(self) -> float:
        return self.voice.ref_rms


class TextPlanner:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def plan(self, request: int, text: str, voice: Voice) -> list[Piece]:
        """The pieces of `text` in `voice`, in speaking order; TextError if nothing in it can be said."""
        if len(text) > MAX_SYNTH_CHARS:
            raise TextError(f"text of {len(text)} characters is over the engine's bound of {MAX_SYNTH_CHARS}")
        if not is_speakable(text):
            raise TextError("nothing speakable in the text after cleaning")
        rate, speed = voice.rate, voice.speed
        max_bytes = rate.max_chunk_bytes(speed, self._backend.cfg.max_pass_s)
        texts = plan_texts(text, max_bytes, rate.bytes_for(HEAD_SECONDS, speed))
        return [self.piece(request, t, voice) for t in texts]

    def piece(self, request: int, text: str, voice: Voice) -> Piece:
        ids = self._backend.tokenize(voice.ref_text + text)
        rate = voice.rate
        # as upstream: at least one frame beyond both the reference mel and the token count
        n = max(rate.ref_frames + rate.gen_frames(text, voice.speed), voice.ref_mel.shape[1] + 1, ids.shape[1] + 1)
        return Piece(request=request, text=text, voice=voice, ids=ids, duration=n)


def plan_texts(text: str, max_bytes: int, head_bytes: int) -> list[str]:
    """`text` split at sentences into pieces of at most `max_bytes` (bot/engine/chunking.py); when that
    takes more than one piece, the first is cut down to its first clause and as many more as fit
    `head_bytes`."""
    pieces = split_sentences(text, max_bytes)
    if len(pieces) < 2:
        return pieces
    first, *more = clauses(pieces[0])
    head = first
    for clause in more:
        if utf8_len(join(head, clause)) > head_bytes:
            break
        head = join(head, clause)
    if head == pieces[0]:
        return pieces
    rest = pieces[0][len(head) :].strip()
    for piece in pieces[1:]:
        rest = join(rest, piece)
    return [head, *split_sentences(rest, max_bytes)]
