"""The report that started the guards: `ref_text: "Hi."` for a 6.6 s clip turned a 7-word line into a
61 s WAV. Through the real engine (tiny model, CPU) and the speech stage, it cannot any more."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.config import load_config
from bot.engine.synthesizer import F5Synthesizer
from bot.events import SAMPLE_RATE, ChatEvent, SpeechRequest
from bot.speech.prepare import SpeechPreparer
from bot.testing.voice_clips import speechlike

pytestmark = pytest.mark.torch  # imports the engine (torch): the pure run leaves the module out


def test_hi_for_a_long_clip_is_a_warning_and_cannot_make_a_minute_of_audio(tmp_path: Path, tiny_model: Path) -> None:
    clip = tmp_path / "me.wav"
    sf.write(clip, np.concatenate([speechlike(6.6), np.zeros(2400, dtype=np.float32)]), SAMPLE_RATE)
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(
        f"model: {{checkpoint: {tiny_model}/model.safetensors, vocab: {tiny_model}/vocab.txt, "
        f"vocoder: {tiny_model}/vocos, architecture: tiny, device: cpu, seed: 0}}\n"
        f"voices: [{{id: me, ref_audio: {clip}, ref_text: Hi.}}]\n"
        "source: {type: console}\noutput: {type: null}\ntext: {max_audio_s: 8}\n",
        encoding="utf-8",
    )
    cfg = load_config(cfg_path)
    synth = F5Synthesizer(cfg.model, cfg.voices)
    preparer = SpeechPreparer.build(cfg, own_voice=lambda uid: False)
    line = "hello from Berlin, first time here"
    pcm = synth.synthesize(preparer.prepare(SpeechRequest(line, "me", ChatEvent(text=line))).request.text, "me")
    assert len(pcm) / SAMPLE_RATE <= 8.1  # was 61 s
    paste = "hello from Berlin, first time here " * 10
    prepared = preparer.prepare(SpeechRequest(paste, "me", ChatEvent(text=paste)))
    assert prepared.shortened
    assert len(synth.synthesize(prepared.request.text, "me")) / SAMPLE_RATE <= 8.1
