"""What the speech stage knows of each voice: its language and its pace; and whether its transcript is
believable.

A wrong transcript is the commonest voice mistake and F5-TTS cannot notice it: the model takes the
pace of the reference (seconds of clip per byte of `ref_text`) for the pace of every message, so
`ref_text: "Hi."` on a 6.6 s clip drew a 7-word line out to 61 s. The transcript's speaking rate
gives it away. Read and conversational speech runs at about 4-8 syllables a second (Pellegrino,
Coupé & Marsico 2011, "A cross-language perspective on speech information rate", Language 87(3):
Mandarin 5.2, English 6.2, Japanese 7.8 syllables or morae a second); the bundled f5-tts voices, slow
and deliberate, measure 2.3 (zh: 14 characters in 6.2 s) and 2.6 (en: 13 syllables in 5.0 s). Outside
1.2-10 a second (half the slowest example; fast speech plus a quarter) the transcript is almost
certainly not what the clip says: a one-line warning names the voice and both numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.config import Config, VoiceConfig
from bot.engine.chunking import FRAMES_PER_SECOND, SpeakingRate, model_transcript
from bot.engine.reference import load_reference
from bot.errors import UserError
from bot.events import SAMPLE_RATE
from bot.speech.language import Language, dominant_language, syllable_count

log = logging.getLogger(__name__)

MIN_SYLLABLES_PER_S = 1.2
MAX_SYLLABLES_PER_S = 10.0

NOMINAL_RATE = SpeakingRate(ref_frames=int(0.12 * FRAMES_PER_SECOND * 100), ref_text_bytes=100)
"""The bundled Chinese voice's pace (0.12 s a byte), for a voice whose clip cannot be read here."""


@dataclass(frozen=True)
class VoiceProfile:
    id: str
    lang: Language
    rate: SpeakingRate
    speed: float = 1.0

    def predicted_seconds(self, text: str) -> float:
        """How long the engine will make `text` (its own duration rule, bot/engine/chunking.py)."""
        return self.rate.gen_frames(text, self.speed) / FRAMES_PER_SECOND


def voice_language(voice: VoiceConfig) -> Language:
    """`lang` as configured, else the transcript's script; Chinese when that says nothing."""
    return voice.lang or dominant_language(voice.ref_text) or "zh"


def transcript_warning(name: str, voice: VoiceConfig, seconds: float) -> str | None:
    """One line when the transcript implies an implausible speaking rate for `seconds` of clip."""
    syllables = syllable_count(voice.ref_text)
    rate = syllables / seconds if seconds > 0 else 0.0
    if MIN_SYLLABLES_PER_S <= rate <= MAX_SYLLABLES_PER_S:
        return None
    return (
        f"{name}.ref_text ({voice.id}): {syllables} syllables for {seconds:.1f} s of audio, {rate:.2f} a second "
        f"(speech runs at {MIN_SYLLABLES_PER_S:g}-{MAX_SYLLABLES_PER_S:g}); is it exactly what the clip says?"
    )


def load_profile(voice: VoiceConfig, name: str) -> tuple[VoiceProfile, list[str]]:
    """The voice's profile and the warnings about it: an implausible transcript, a clip cut at 12 s.
    Raises VoiceError when the clip cannot be read."""
    audio = load_reference(voice.ref_audio, f"{name}.ref_audio")
    seconds = len(audio.pcm) / SAMPLE_RATE
    warnings = []
    if audio.clipped_from is not None:
        warnings.append(
            f"{name}.ref_audio ({voice.id}): the clip is {audio.clipped_from:.1f} s; only {seconds:.1f} s (cut at a "
            "pause) is used: make sure ref_text matches just that, or trim the clip yourself"
        )
    if warning := transcript_warning(name, voice, seconds):
        warnings.append(warning)
    rate = SpeakingRate.of(len(audio.pcm), model_transcript(voice.ref_text))
    return VoiceProfile(voice.id, voice_language(voice), rate, voice.speed), warnings


def load_profiles(cfg: Config) -> dict[str, VoiceProfile]:
    """Every voice's profile, logging its warnings. Blocking (reads the clips): call it off the event
    loop. A clip that cannot be read here gets a nominal pace (the engine reports the clip itself)."""
    profiles = {}
    for i, voice in enumerate(cfg.voices):
        try:
            profile, warnings = load_profile(voice, f"voices[{i}]")
        except UserError as err:
            log.warning("%s; its messages are bounded at a nominal pace", err)
            profile, warnings = VoiceProfile(voice.id, voice_language(voice), NOMINAL_RATE, voice.speed), []
        for warning in warnings:
            log.warning("%s", warning)
        profiles[voice.id] = profile
    return profiles


def voice_warnings(cfg: Config) -> list[str]:
    """The warnings of `ishowtts-bot check` (a clip that cannot be read is already a problem there)."""
    out = []
    for i, voice in enumerate(cfg.voices):
        try:
            out += load_profile(voice, f"voices[{i}]")[1]
        except UserError:
            continue
    return out
