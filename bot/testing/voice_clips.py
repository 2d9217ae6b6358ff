"""Voice clips for tests and bench: a speech-like signal, and the two example voices f5-tts bundles — or,
where f5-tts is not installed (the pure test run), stand-ins for them.

A stand-in is speech-like noise exactly as long as the real clip once `load_reference` has trimmed it,
under a stand-in `f5_tts` folder put on `sys.path`, so `f5-tts:` paths in configs resolve to it and a
voice's pace (what the speech stage bounds each message by) is the real voice's. Only the engine hears
the difference, and the engine's tests run where f5-tts is installed.
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import sys
import tempfile
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import soundfile as sf

from bot.events import SAMPLE_RATE, Pcm

ZH_CLIP = "infer/examples/basic/basic_ref_zh.wav"
EN_CLIP = "infer/examples/basic/basic_ref_en.wav"
ZH_TEXT = "对，这就是我，万人敬仰的太乙真人。"
"""What the Chinese example clip says (as f5-tts's own examples give it)."""

TRIMMED_SAMPLES = {ZH_CLIP: 149_040, EN_CLIP: 120_720}
"""f5-tts 1.1.22's example clips at 24 kHz after `load_reference` trimmed their silent edges."""


def speechlike(seconds: float, rate: int = SAMPLE_RATE, seed: int = 0) -> Pcm:
    """A voiced, syllable-modulated signal: loud enough to survive silence trimming."""
    return _speechlike(int(seconds * rate), rate, seed)


def _speechlike(samples: int, rate: int, seed: int) -> Pcm:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    pcm: Pcm = (0.2 * envelope * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(samples)).astype(np.float32)
    return pcm


def bundled_clip(path: str) -> str:
    """The file of f5-tts's example clip `path` (a stand-in's where f5-tts is not installed)."""
    if find_spec("f5_tts") is None:
        _install_standins()
    return str(files("f5_tts").joinpath(path))


def _install_standins() -> None:
    folder = Path(tempfile.mkdtemp(prefix="ishowtts-f5-tts-standin-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for path, samples in TRIMMED_SAMPLES.items():
        clip = folder / "f5_tts" / path
        clip.parent.mkdir(parents=True, exist_ok=True)
        sf.write(clip, _speechlike(samples, SAMPLE_RATE, seed=0), SAMPLE_RATE)
    sys.path.append(str(folder))
    importlib.invalidate_caches()


ZH_REF = bundled_clip(ZH_CLIP)
