"""The voice bank: each configured voice prepared once (reference mel on the device, transcript as the
model reads it, speaking rate), swapped all at once on a config reload.

The clip itself is read by `load_reference`, which the speech stage shares (bot/speech/voices.py): one
read per clip, and its warnings (a clip cut at 12 s) said once, by the speech stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bot.config import VoiceConfig
from bot.engine.backend import Backend
from bot.engine.chunking import SpeakingRate, model_transcript
from bot.engine.reference import load_reference
from bot.errors import VoiceError


@dataclass
class Voice:
    """A prepared voice: its reference mel lives on the device for the life of the process."""

    id: str
    ref_text: str
    ref_mel: torch.Tensor  # (1, frames, 100), model dtype, on the device
    ref_rms: float
    rate: SpeakingRate
    speed: float
    gain: float


class VoiceBank:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._voices: dict[str, Voice] = {}
        self._cfgs: dict[str, VoiceConfig] = {}

    def ids(self) -> list[str]:
        return list(self._voices)

    def all(self) -> list[Voice]:
        return list(self._voices.values())

    def add(self, cfg: VoiceConfig, name: str = "voice") -> None:
        self._voices[cfg.id] = self._prepare(cfg, name)
        self._cfgs[cfg.id] = cfg

    def set_voices(self, voices: list[VoiceConfig]) -> list[str]:
        """Make `voices` the voice set (a config reload): new or changed ones are prepared first, and
        only when all of them load is the set swapped, so a bad clip leaves the old voices working."""
        prepared: dict[str, Voice] = {}
        for i, cfg in enumerate(voices):
            if cfg.id in self._voices and self._cfgs.get(cfg.id) == cfg:
                prepared[cfg.id] = self._voices[cfg.id]
            else:
                prepared[cfg.id] = self._prepare(cfg, f"voices[{i}]")
        self._voices = prepared
        self._cfgs = {cfg.id: cfg for cfg in voices}
        return list(prepared)

    def voice(self, voice_id: str) -> Voice:
        try:
            return self._voices[voice_id]
        except KeyError:
            raise VoiceError(f"unknown voice {voice_id!r} (available: {', '.join(self._voices)})") from None

    @torch.inference_mode()
    def _prepare(self, cfg: VoiceConfig, name: str) -> Voice:
        """Load and measure a voice's clip, and put its mel on the device."""
        audio = load_reference(cfg.ref_audio, f"{name}.ref_audio")
        ref_text = model_transcript(cfg.ref_text)
        return Voice(
            id=cfg.id,
            ref_text=ref_text,
            ref_mel=self._backend.reference_mel(audio.pcm, audio.rms),
            ref_rms=audio.rms,
            rate=SpeakingRate.of(len(audio.pcm), ref_text),
            speed=cfg.speed,
            gain=float(10 ** (cfg.gain_db / 20)),
        )
