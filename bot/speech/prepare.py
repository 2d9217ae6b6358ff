"""The speech stage: a request that passed the filters, made into what the engine is given.

Three steps, in order: the voice for the message's language (unless a moderator gave the viewer a
voice), the text normalised the way that language reads it, and the predicted duration bounded by
`text.max_audio_s` (over it, the text is cut like `max_chars`, the truncation cue said, and the cut
counted). A bound relative to the text's length is the engine's own: no voice's pace may stretch a
byte of text beyond MAX_SECONDS_PER_BYTE (bot/engine/chunking.py). Last, the engine's own bound on one
request (MAX_SYNTH_CHARS), which the engine then only checks.

The text arrives clean (bot/text.py says where it is cleaned) and stays clean: the normaliser writes
words, and the truncation cue is cleaned once with the config.

It runs where synthesis text is prepared, in a thread beside the event loop, just before the engine:
normalising costs 0.4 ms of CPU for a typical message (p99 1.3 ms) but ~13 ms for a hostile line of
numbers (bench/normalize.py, docs/benchmarks.md), and only messages that are actually spoken pay it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from bot.config import Config, SpokenConfig
from bot.engine.chunking import MAX_SYNTH_CHARS
from bot.events import SpeechRequest
from bot.speech.language import dominant_language
from bot.speech.normalizer import PassThroughNormalizer, TextNormalizer, WetextNormalizer
from bot.speech.voices import VoiceProfile, load_profiles
from bot.text import clean_text
from bot.text_rules import speech_length, truncate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    request: SpeechRequest
    shortened: bool = False
    """The text was cut to fit `text.max_audio_s`."""


@lru_cache(maxsize=1)
def shared_normalizer() -> WetextNormalizer:
    """The grammars load once per process (~0.3 s), not per message, per daemon or per reload."""
    return WetextNormalizer()


class SpeechPreparer:
    def __init__(
        self,
        cfg: SpokenConfig,
        profiles: dict[str, VoiceProfile],
        normalizer: TextNormalizer,
        own_voice: Callable[[int], bool],
        truncation_cue: str = "",
    ) -> None:
        self.cfg = cfg
        self.profiles = profiles
        self.normalizer = normalizer
        self.own_voice = own_voice
        """True for a viewer a moderator gave a voice: theirs whatever language they write in."""
        self.truncation_cue = clean_text(truncation_cue, len(truncation_cue))
        first: dict[str, str] = {}
        for profile in profiles.values():
            first.setdefault(profile.lang, profile.id)
        self._voice_of_language = first

    @classmethod
    def build(cls, cfg: Config, own_voice: Callable[[int], bool]) -> SpeechPreparer:
        """Blocking (loads the grammars once and reads the voices' clips): call it off the event loop."""
        normalizer: TextNormalizer = shared_normalizer() if cfg.text.normalize else PassThroughNormalizer()
        return cls(cfg.text, load_profiles(cfg), normalizer, own_voice, cfg.text.truncation_cue)

    def prepare_all(self, batch: list[SpeechRequest]) -> list[Prepared]:
        """Each request prepared; one this stage fails on goes to the engine as the filters left it."""
        out = []
        for request in batch:
            try:
                out.append(self.prepare(request))
            except Exception:
                log.exception("could not prepare message #%d for speech; it is said as written", request.seq)
                out.append(Prepared(request))
        return out

    def prepare(self, request: SpeechRequest) -> Prepared:
        voice = request.voice
        lang = dominant_language(request.text)
        if (
            self.cfg.voice_by_language
            and lang is not None
            and voice in self.profiles
            and self.profiles[voice].lang != lang
            and lang in self._voice_of_language
            and not self.own_voice(request.event.uid)
        ):
            voice = self._voice_of_language[lang]
        profile = self.profiles.get(voice)
        text = self.normalizer.normalize(request.text, lang or (profile.lang if profile else "zh"))
        shortened = False
        if profile is not None and profile.predicted_seconds(text) > self.cfg.max_audio_s:
            text, shortened = self._fit(text, profile), True
        if len(text) > MAX_SYNTH_CHARS:  # the engine's bound: numbers written out can lengthen a text
            text, shortened = text[:MAX_SYNTH_CHARS].rstrip(), True
        if text == request.text and voice == request.voice:
            return Prepared(request)
        return Prepared(replace(request, text=text, voice=voice), shortened)

    def _fit(self, text: str, profile: VoiceProfile) -> str:
        """The longest head of `text` (cut as `max_chars` cuts), with the cue, that fits max_audio_s."""
        limit = self.cfg.max_audio_s
        low, high = 0, len(text) * 2  # speaking units (halves for narrow characters), bisected
        best = ""
        while low <= high:
            mid = (low + high) // 2
            head, _ = truncate(text, mid / 2)
            candidate = self._with_cue(head)
            if profile.predicted_seconds(candidate) <= limit:
                best, low = candidate, mid + 1
            else:
                high = mid - 1
        return best or self.truncation_cue or text[:1]

    def _with_cue(self, head: str) -> str:
        if not head or not self.truncation_cue:
            return head
        wide = speech_length(head[-1]) == 1.0
        return f"{head}{'，' if wide else ', '}{self.truncation_cue}"
