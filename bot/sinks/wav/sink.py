"""Records what would have been played, as WAV: one file per utterance into a folder, or everything
into one file with the configured gap between utterances. Disk writes run off the event loop.

A failed write (the folder replaced by a file, a full disk, EMFILE) raises to the daemon, which drops that
utterance; no half-written file is left behind and the next write starts afresh (the folder made again)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from bot.events import SAMPLE_RATE, Pcm, Utterance
from bot.sinks.controls import ImmediateControls


class WavSink(ImmediateControls):
    def __init__(self, path: str, gap_ms: int = 300) -> None:
        self.path = Path(path)
        self.single_file = self.path.suffix.lower() == ".wav"
        self.gap = np.zeros(SAMPLE_RATE * gap_ms // 1000, dtype=np.float32)
        self.count = 0
        self._file: sf.SoundFile | None = None

    async def write(self, utterance: Utterance) -> None:
        self.count += 1
        await asyncio.to_thread(self._write, utterance, self.count)

    async def append(self, utterance: Utterance, rest: Pcm) -> None:
        """A streamed message's rest: after its first part in the one file (no gap), or its file
        written again whole."""
        if self.single_file and self._file is not None:
            await asyncio.to_thread(self._append, rest)
        else:
            whole = replace(utterance, pcm=np.concatenate([utterance.pcm, rest]), rest=None)
            await asyncio.to_thread(self._write, whole, self.count)

    def _append(self, rest: Pcm) -> None:
        assert self._file is not None
        self._file.write(rest)
        self._file.flush()

    def _write(self, utt: Utterance, n: int) -> None:
        if self.single_file:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = sf.SoundFile(self.path, "w", samplerate=utt.sample_rate, channels=1, subtype="FLOAT")
            elif len(self.gap):
                self._file.write(self.gap)
            self._file.write(utt.pcm)
            self._file.flush()
            return
        self.path.mkdir(parents=True, exist_ok=True)
        voice = re.sub(r"[^\w.-]", "_", utt.request.voice)
        tmp = self.path / f".{n:05d}-{voice}.wav.part"
        try:
            sf.write(tmp, utt.pcm, utt.sample_rate, subtype="FLOAT", format="WAV")
            tmp.replace(self.path / f"{n:05d}-{voice}.wav")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def close(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None
