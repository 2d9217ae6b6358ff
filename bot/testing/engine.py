"""Test-only and bench-only access to the engine's parts, kept off F5Synthesizer's public surface.

The daemon only ever uses the `Synthesizer` façade (bot/protocols.py). Tests that check the engine
against upstream, and benchmarks that time its pieces, need the parts behind it: the backend (model,
vocoder, sampling loop), the voice bank and the text planner. They reach them through here, so a change
to the internals shows up in one place.
"""

from __future__ import annotations

from bot.config import VoiceConfig
from bot.engine.backend import Backend
from bot.engine.planning import Piece, TextPlanner
from bot.engine.synthesizer import F5Synthesizer
from bot.engine.voice_bank import Voice, VoiceBank
from bot.events import Pcm


def backend(synth: F5Synthesizer) -> Backend:
    """Model, vocoder, tokenizer, noise and the sampling loop (`set_steps`, `fast`, `graphs`, `prepared`)."""
    return synth._backend


def bank(synth: F5Synthesizer) -> VoiceBank:
    return synth._bank


def planner(synth: F5Synthesizer) -> TextPlanner:
    return synth._planner


def voice(synth: F5Synthesizer, voice_id: str) -> Voice:
    return synth._bank.voice(voice_id)


def add_voice(synth: F5Synthesizer, cfg: VoiceConfig) -> None:
    synth._bank.add(cfg)


def remove_voice(synth: F5Synthesizer, voice_id: str) -> None:
    bank = synth._bank
    bank.set_voices([cfg for cfg in bank._cfgs.values() if cfg.id != voice_id])


def pieces(synth: F5Synthesizer, text: str, voice_id: str) -> list[Piece]:
    """How the engine plans `text` (as request 0)."""
    return synth._planner.plan(0, text, synth._bank.voice(voice_id))


def synthesize_piece(synth: F5Synthesizer, text: str, voice_id: str, seed: int | None = None) -> Pcm:
    """`text` as one piece, unbatched: what upstream's `infer_batch_process` computes for one chunk."""
    piece = synth._planner.piece(0, text, synth._bank.voice(voice_id))
    return synth._backend.sample([piece], seed)[0]


def warm_up(synth: F5Synthesizer, max_gen_seconds: float = 8.0, max_batched_gen_seconds: float = 4.0) -> int:
    """All of `warm_up_steps` at once; returns the number of shapes prepared."""
    steps = synth.warm_up_steps(max_gen_seconds, max_batched_gen_seconds)
    return len({step.split(" ", 1)[1] for step in steps if step.startswith(("capture", "compile"))})
