from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.engine.reference import MAX_REF_SECONDS, load_reference
from bot.errors import VoiceError
from bot.testing.voice_clips import speechlike


def test_stereo_48k_is_mono_24k(write_wav: Callable[..., Path]) -> None:
    ref = load_reference(str(write_wav("s.wav", seconds=3, rate=48_000, channels=2)), "v")
    assert ref.pcm.dtype == np.float32 and ref.pcm.ndim == 1
    assert abs(len(ref.pcm) / 24_000 - 3.0) < 0.15
    assert 0.05 < ref.rms < 0.2


def test_edge_silence_is_trimmed(tmp_path: Path) -> None:
    pcm = np.concatenate([np.zeros(24_000), speechlike(2.0), np.zeros(36_000)]).astype(np.float32)
    sf.write(tmp_path / "pad.wav", pcm, 24_000)
    ref = load_reference(str(tmp_path / "pad.wav"), "v")
    assert 1.95 < len(ref.pcm) / 24_000 < 2.2


def test_long_reference_is_clipped_at_a_pause(tmp_path: Path) -> None:
    speech = speechlike(5.0)
    pcm = np.concatenate([speech, np.zeros(12_000), speech, np.zeros(12_000), speech]).astype(np.float32)
    sf.write(tmp_path / "long.wav", pcm, 24_000)
    ref = load_reference(str(tmp_path / "long.wav"), "v")
    assert ref.clipped_from is not None and ref.clipped_from > 15
    assert len(ref.pcm) <= MAX_REF_SECONDS * 24_000
    assert 10.4 < len(ref.pcm) / 24_000 < 10.6  # cut in the pause after the second phrase (10.5-11 s)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "voices[0].ref_audio: file not found: "),
        (b"this is not audio at all", "voices[0].ref_audio: not a readable audio file: "),
    ],
)
def test_unusable_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "ref.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VoiceError) as err:
        load_reference(str(path), "voices[0].ref_audio")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_too_short_and_silent(tmp_path: Path, write_wav: Callable[..., Path]) -> None:
    with pytest.raises(VoiceError, match=r"^v: the reference has 0\.\d\d s of sound; at least 1 s is needed: "):
        load_reference(str(write_wav("short.wav", seconds=0.5)), "v")
    sf.write(tmp_path / "silent.wav", np.zeros(48_000, dtype=np.float32), 24_000)
    with pytest.raises(VoiceError, match=r"^v: the reference has 0\.00 s of sound"):
        load_reference(str(tmp_path / "silent.wav"), "v")


@pytest.mark.torch  # the voice bank holds tensors
def test_a_clip_is_read_once_for_the_engine_and_the_speech_stage(
    write_wav: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine's voice bank and the speech stage both prepare each voice's clip: one read, and the
    12 s warning said once (by the speech stage), until the file changes."""
    import os

    from bot.config import VoiceConfig
    from bot.engine import reference
    from bot.engine.voice_bank import VoiceBank
    from bot.speech.voices import load_profile

    clip = write_wav("long.wav", seconds=15.0)
    reads: list[str] = []
    real_read = sf.read
    monkeypatch.setattr(reference.sf, "read", lambda path, **kw: reads.append(str(path)) or real_read(path, **kw))

    class Mels:  # the voice bank's only use of the backend here
        def reference_mel(self, pcm: np.ndarray, rms: float) -> np.ndarray:
            return np.zeros((1, len(pcm) // 256, 100), dtype=np.float32)

    voice = VoiceConfig(id="me", ref_audio=str(clip), ref_text="好" * 40)
    VoiceBank(Mels()).add(voice, "voices[0]")  # type: ignore[arg-type]
    _, warnings = load_profile(voice, "voices[0]")
    assert reads == [str(clip)]
    assert sum("the clip is 15.0 s" in w for w in warnings) == 1
    assert not [r for r in caplog.records if "clipped" in r.getMessage()]  # the engine no longer warns too
    stat = os.stat(clip)
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # edited: read again
    load_profile(voice, "voices[0]")
    assert reads == [str(clip)] * 2
