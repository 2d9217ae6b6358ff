"""F5Synthesizer: text + voice id -> 24 kHz float32 PCM, on the device chosen in the config.

Construction loads the model and vocoder and prepares every configured voice once (reference mel on
the device, transcript kept for tokenising); `synthesize` then only tokenises, samples and vocodes.
Not thread-safe by design: the GPU worker thread is its only caller.
"""

from __future__ import annotations

import gc
import logging
import secrets
import time
from dataclasses import dataclass

import numpy as np
import torch

from bot.config import ModelConfig, VoiceConfig
from bot.engine.chunking import HOP_LENGTH, SpeakingRate, split_sentences, utf8_len
from bot.engine.loading import load_model, load_vocoder, resolve_device, resolve_dtype
from bot.engine.reference import TARGET_RMS, load_reference
from bot.engine.sampler import EulerCfgSampler
from bot.errors import SynthesisError, TextError, VoiceError
from bot.events import SAMPLE_RATE, Pcm
from bot.text import clean_text, is_speakable

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1000
"""A hard cap on one synthesis call, whatever the caller's own limit: bounded work per utterance."""

CROSS_FADE_SECONDS = 0.08


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


class F5Synthesizer:
    def __init__(self, model_cfg: ModelConfig, voices: list[VoiceConfig]) -> None:
        self.cfg = model_cfg
        self.device = resolve_device(model_cfg.device)
        self.dtype = resolve_dtype(model_cfg.dtype, self.device)
        t0 = time.perf_counter()
        self.model, self.vocab = load_model(model_cfg, self.device, self.dtype)
        self.vocoder = load_vocoder(model_cfg.vocoder, model_cfg.cache_dir, self.device)
        self.sampler = EulerCfgSampler(
            self.model.transformer, model_cfg.nfe_step, model_cfg.cfg_strength, model_cfg.sway_sampling_coef
        )
        log.info(
            "model loaded on %s (%s) in %.1f s", self.device, str(self.dtype).split(".")[-1], time.perf_counter() - t0
        )
        self._voices: dict[str, Voice] = {}
        for i, voice in enumerate(voices):
            self.add_voice(voice, f"voices[{i}]")

    def voices(self) -> list[str]:
        return list(self._voices)

    @torch.inference_mode()
    def add_voice(self, cfg: VoiceConfig, name: str = "voice") -> None:
        """Prepare a voice: load, clean and measure its clip, then keep its mel on the device."""
        audio = load_reference(cfg.ref_audio, f"{name}.ref_audio")
        if audio.clipped_from is not None:
            log.warning(
                "%s: reference clipped from %.1f s to %.1f s at a pause; make sure ref_text matches "
                "only what remains, or trim the clip yourself",
                name,
                audio.clipped_from,
                len(audio.pcm) / SAMPLE_RATE,
            )
        ref_text = cfg.ref_text.strip()
        if len(ref_text[-1].encode("utf-8")) == 1:
            ref_text += " "  # upstream: a Latin transcript ends with a space so the new text is a new word
        wave = torch.from_numpy(audio.pcm).to(self.device)
        if audio.rms < TARGET_RMS:
            wave = wave * TARGET_RMS / audio.rms
        ref_mel = self.model.mel_spec(wave.unsqueeze(0)).permute(0, 2, 1).to(self.dtype)
        ref_frames = len(audio.pcm) // HOP_LENGTH
        self._voices[cfg.id] = Voice(
            id=cfg.id,
            ref_text=ref_text,
            ref_mel=ref_mel,
            ref_rms=audio.rms,
            rate=SpeakingRate(ref_frames=ref_frames, ref_text_bytes=utf8_len(ref_text)),
            speed=cfg.speed,
            gain=float(10 ** (cfg.gain_db / 20)),
        )

    def remove_voice(self, voice_id: str) -> None:
        self._voices.pop(voice_id, None)

    def voice(self, voice_id: str) -> Voice:
        try:
            return self._voices[voice_id]
        except KeyError:
            raise VoiceError(f"unknown voice {voice_id!r} (available: {', '.join(self._voices)})") from None

    def synthesize(self, text: str, voice: str) -> Pcm:
        """Speak `text` in `voice`; long text is split at sentences and joined with a short cross-fade."""
        v = self.voice(voice)
        cleaned = clean_text(text, MAX_TEXT_CHARS)
        if not is_speakable(cleaned):
            raise TextError("nothing speakable in the text after cleaning")
        pieces = split_sentences(cleaned, v.rate.max_chunk_bytes(v.speed))
        out_of_memory = False
        try:
            waves = [self.synthesize_piece(piece, v) for piece in pieces]
        except torch.OutOfMemoryError:
            out_of_memory = True
        if out_of_memory:
            # Released here, outside the except block: its traceback would keep the tensors alive.
            self.release_memory()
            raise SynthesisError(f"GPU out of memory on a {len(cleaned)}-character text; utterance dropped")
        pcm = cross_fade(waves, int(CROSS_FADE_SECONDS * SAMPLE_RATE))
        if v.gain != 1.0:
            pcm = np.clip(pcm * v.gain, -1.0, 1.0)
        return pcm.astype(np.float32, copy=False)

    def release_memory(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def tokenize(self, text: str) -> torch.Tensor:
        from f5_tts.model.utils import convert_char_to_pinyin

        tokens = convert_char_to_pinyin([text])[0]
        return torch.tensor([[self.vocab.get(c, 0) for c in tokens]], dtype=torch.long, device=self.device)

    def initial_noise(self, frames: int, seed: int | None = None) -> torch.Tensor:
        """Upstream's noise for a given seed: a fresh generator seeded like `torch.manual_seed(seed)`."""
        seed = self.cfg.seed if seed is None else seed
        gen = torch.Generator(device=self.device).manual_seed(secrets.randbits(63) if seed is None else seed)
        return torch.randn(frames, 100, generator=gen, device=self.device, dtype=self.dtype).unsqueeze(0)

    @torch.inference_mode()
    def synthesize_piece(self, text: str, v: Voice, seed: int | None = None) -> Pcm:
        ref_frames = v.rate.ref_frames
        ids = self.tokenize(v.ref_text + text)
        # as upstream: at least one frame beyond both the reference mel and the token count
        duration = max(ref_frames + v.rate.gen_frames(text, v.speed), v.ref_mel.shape[1] + 1, ids.shape[1] + 1)
        mel = self.sampler.sample(v.ref_mel, ids, duration, self.initial_noise(duration, seed))
        return self.vocode(mel[:, ref_frames:, :], v.ref_rms)

    def vocode(self, mel: torch.Tensor, ref_rms: float) -> Pcm:
        wave = self.vocoder.decode(mel.float().permute(0, 2, 1))
        if ref_rms < TARGET_RMS:
            wave = wave * ref_rms / TARGET_RMS
        out: Pcm = wave.squeeze(0).float().cpu().numpy()
        return out


def cross_fade(waves: list[Pcm], overlap: int) -> Pcm:
    """Join pieces with a linear cross-fade of `overlap` samples (shortened for very short pieces)."""
    if not waves:
        return np.zeros(0, dtype=np.float32)
    out = waves[0]
    for nxt in waves[1:]:
        n = min(overlap, len(out), len(nxt))
        if n == 0:
            out = np.concatenate([out, nxt])
            continue
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        mixed = out[-n:] * (1 - ramp) + nxt[:n] * ramp
        out = np.concatenate([out[:-n], mixed, nxt[n:]])
    return out
