"""The WAV sink after a failed write: nothing half-written left behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.events import ChatEvent, SpeechRequest, Utterance
from bot.sinks.wav.sink import WavSink


def utterance(seconds: float) -> Utterance:
    request = SpeechRequest(text="x", voice="zh", event=ChatEvent(text="x"), seq=1)
    return Utterance(request=request, pcm=np.full(int(24_000 * seconds), 0.1, dtype=np.float32), synth_seconds=0.0)


def test_a_failed_file_in_a_folder_leaves_no_part_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = WavSink(str(tmp_path / "out"))

    def full(*args: object, **kwargs: object) -> None:
        Path(str(args[0])).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf, "write", full)
    with pytest.raises(OSError):
        asyncio.run(sink.play(utterance(0.5)))
    assert list((tmp_path / "out").iterdir()) == []
