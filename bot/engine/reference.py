"""Preparing a voice's reference clip, once per voice, the way upstream f5-tts does.

Load any format libsndfile reads, downmix to mono, resample to 24 kHz with soxr, trim silence at the
edges, keep at most 12 s (cut at the quietest point so no word is split) and measure loudness. Upstream
raises quiet references to RMS 0.1 and scales the output back by the same factor; so do we.

The engine (its mel) and the speech stage (the clip's pace and warnings) both need the prepared clip: it
is read once and shared (`load_reference` keeps the last few, keyed by the file's path, size and mtime,
so an edited clip is read again on a reload).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from bot.errors import VoiceError
from bot.events import SAMPLE_RATE, Pcm

log = logging.getLogger(__name__)

TARGET_RMS = 0.1
MAX_REF_SECONDS = 12.0
MIN_REF_SECONDS = 1.0
SILENCE_DBFS = -42.0
_FRAME = SAMPLE_RATE // 100  # 10 ms analysis frames
_KEEP = 16
"""Prepared clips kept for the next reader: a few voices' worth (about 1 MB each)."""


@dataclass(frozen=True)
class PreparedAudio:
    pcm: Pcm
    rms: float
    clipped_from: float | None = None


_prepared: OrderedDict[tuple[str, int, int], PreparedAudio] = OrderedDict()
_lock = threading.Lock()


def load_reference(path: str, name: str) -> PreparedAudio:
    """Load and prepare a reference clip (or hand out the one already prepared from the same file);
    `name` (e.g. `voices[0].ref_audio`) prefixes every error. The audio is read-only: it is shared."""
    if not Path(path).is_file():
        raise VoiceError(f"{name}: file not found: {path}")
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if (audio := _prepared.get(key)) is not None:
            _prepared.move_to_end(key)
            return audio
    audio = _prepare(path, name)
    audio.pcm.flags.writeable = False
    with _lock:
        _prepared[key] = audio
        while len(_prepared) > _KEEP:
            _prepared.popitem(last=False)
    return audio


def _prepare(path: str, name: str) -> PreparedAudio:
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        reason = getattr(err, "error_string", None) or _one_line(err)  # libsndfile's reason, without the path
        raise VoiceError(f"{name}: not a readable audio file: {path} ({reason})") from None
    if data.size == 0:
        raise VoiceError(f"{name}: the audio file is empty: {path}")
    mono = data.mean(axis=1).astype(np.float32)
    if not np.isfinite(mono).all():
        raise VoiceError(f"{name}: the audio contains NaN or infinite samples: {path}")
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    mono = trim_silence(mono)
    if len(mono) < MIN_REF_SECONDS * SAMPLE_RATE:
        raise VoiceError(
            f"{name}: the reference has {len(mono) / SAMPLE_RATE:.2f} s of sound; at least "
            f"{MIN_REF_SECONDS:.0f} s is needed: {path}"
        )
    clipped_from = None
    if len(mono) > MAX_REF_SECONDS * SAMPLE_RATE:
        clipped_from = len(mono) / SAMPLE_RATE
        mono = clip_at_pause(mono, int(MAX_REF_SECONDS * SAMPLE_RATE))
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))
    if rms < 1e-5:
        raise VoiceError(f"{name}: the reference is silent: {path}")
    return PreparedAudio(pcm=mono, rms=rms, clipped_from=clipped_from)


def _frame_db(pcm: Pcm) -> npt.NDArray[np.float64]:
    """Loudness of each 10 ms frame in dBFS."""
    n = len(pcm) // _FRAME
    frames = pcm[: n * _FRAME].reshape(n, _FRAME).astype(np.float64)
    db: npt.NDArray[np.float64] = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return db


def trim_silence(pcm: Pcm, threshold_db: float = SILENCE_DBFS, keep_ms: int = 50) -> Pcm:
    """Drop leading/trailing frames quieter than `threshold_db` dBFS, keeping `keep_ms` of margin."""
    db = _frame_db(pcm)
    loud = np.nonzero(db > threshold_db)[0]
    if len(loud) == 0:
        return pcm[:0]
    margin = keep_ms * SAMPLE_RATE // 1000
    start = max(loud[0] * _FRAME - margin, 0)
    end = min((loud[-1] + 1) * _FRAME + margin, len(pcm))
    return pcm[start:end]


def clip_at_pause(pcm: Pcm, max_len: int) -> Pcm:
    """Cut to at most `max_len` samples at the quietest 10 ms frame in the last third before the limit."""
    db = _frame_db(pcm[:max_len])
    lo = len(db) * 2 // 3
    cut = (lo + int(np.argmin(db[lo:]))) * _FRAME
    return trim_silence(pcm[:cut])


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
