"""The WAV sink after a failed write: nothing half-written left behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.events import ChatEvent, Rest, SpeechRequest, Utterance
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


@pytest.mark.parametrize("target", ["out.wav", "out"])
def test_a_streamed_utterance_is_written_whole_without_a_gap(tmp_path: Path, target: str) -> None:
    """One file or a folder: the first part then the rest, joined as one utterance (the gap only between)."""
    head, rest = np.full(2_400, 0.1, dtype=np.float32), np.full(4_800, 0.2, dtype=np.float32)
    sink = WavSink(str(tmp_path / target), gap_ms=100)

    async def play() -> None:
        future: asyncio.Future[Rest] = asyncio.get_running_loop().create_future()
        streamed = Utterance(request=utterance(0.1).request, pcm=head, rest=future)
        playing = asyncio.ensure_future(sink.play(streamed))
        await asyncio.sleep(0.05)
        future.set_result(Rest(rest))
        await playing
        await sink.play(utterance(0.1))
        await sink.close()

    asyncio.run(play())
    first = tmp_path / target if target.endswith(".wav") else sorted((tmp_path / target).iterdir())[0]
    audio, _ = sf.read(first, dtype="float32")
    expected = np.concatenate([head, rest])
    assert np.array_equal(audio[: len(expected)], expected)
    if target.endswith(".wav"):
        assert not audio[len(expected) : len(expected) + 2_400].any()  # then the gap, then the next
    else:
        assert len(audio) == len(expected)
