"""A Synthesizer without a model, for tests of everything around the engine.

It "speaks" a tone whose length follows the text, takes `delay_s` of wall time per call (sleeping, so
it holds the worker thread like a GPU call does) and has failure knobs: `fail_texts` always fail, the
first `fake_exception_count` calls raise, and while `hang` is cleared every call blocks on it (a CUDA
call that never returns, until the test sets it). Texts longer than `stream_over` are streamed in two
steps, as the real engine streams a long message; the first `rest_failures` second steps raise (the GPU
out of memory while the rests are synthesised).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bot.config import VoiceConfig
from bot.errors import SynthesisError, UserError, VoiceError
from bot.events import SAMPLE_RATE, Head, Pcm


class FakeSynthesizer:
    def __init__(
        self,
        voices: list[str] | None = None,
        delay_s: float = 0.0,
        seconds_per_char: float = 0.1,
        fail_texts: frozenset[str] = frozenset(),
        fake_exception_count: int = 0,
        max_batch: int = 1,
        hang: threading.Event | None = None,
        stream_over: int = 10_000,
        rest_failures: int = 0,
    ) -> None:
        self.max_batch = max_batch
        self.stream_over = stream_over
        self.rest_failures = rest_failures
        self.rests = 0
        """Second steps of `stream_batch` run: rests synthesised."""
        self.hang = hang
        self.batches: list[int] = []
        self.warmed_up = False
        self._voices = voices or ["default"]
        self.delay_s = delay_s
        self.seconds_per_char = seconds_per_char
        self.fail_texts = fail_texts
        self.fake_exception_count = fake_exception_count
        self.calls: list[tuple[str, str]] = []
        self.threads: set[int] = set()

    def voices(self) -> list[str]:
        return list(self._voices)

    def set_voices(self, voices: list[VoiceConfig]) -> list[str]:
        """As the real engine: every voice's clip must exist, else nothing changes."""
        for i, voice in enumerate(voices):
            if not Path(voice.ref_audio).is_file():
                raise VoiceError(f"voices[{i}].ref_audio: file not found: {voice.ref_audio}")
        self._voices = [v.id for v in voices]
        return self.voices()

    def warm_up_steps(self) -> Iterator[str]:
        """One step, the first (able to speak), and nothing announced after it."""
        self.warmed_up = True
        yield from ()

    def synthesize_batch(self, requests: list[tuple[str, str]]) -> list[Pcm | UserError]:
        self.batches.append(len(requests))
        out: list[Pcm | UserError] = []
        for text, voice in requests:
            try:
                out.append(self.synthesize(text, voice))
            except UserError as err:
                out.append(err)
        return out

    def stream_batch(self, requests: list[tuple[str, str]]) -> Iterator[list[Pcm | Head | UserError]]:
        """Texts of more than `stream_over` characters stream: a Head (the first `stream_over` characters'
        tone), then the rest; each step is one call's delay."""
        results = self.synthesize_batch(requests)
        heads = [
            isinstance(pcm, np.ndarray) and len(text) > self.stream_over
            for (text, _), pcm in zip(requests, results, strict=True)
        ]
        cut = int(SAMPLE_RATE * self.seconds_per_char * self.stream_over)
        yield [
            Head(r[:cut]) if head and isinstance(r, np.ndarray) else r for r, head in zip(results, heads, strict=True)
        ]
        if any(heads):
            self.rests += 1
            if self.delay_s:
                time.sleep(self.delay_s)
            if self.rest_failures > 0:
                self.rest_failures -= 1
                raise RuntimeError("fake out of memory in a rest")
            yield [r[cut:] for r, head in zip(results, heads, strict=True) if head and isinstance(r, np.ndarray)]

    def synthesize(self, text: str, voice: str) -> Pcm:
        self.threads.add(threading.get_ident())
        self.calls.append((text, voice))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.hang is not None:
            self.hang.wait()
        if self.fake_exception_count > 0:
            self.fake_exception_count -= 1
            raise RuntimeError("fake engine failure")
        if text in self.fail_texts:
            raise SynthesisError(f"fake failure for {text!r}")
        n = int(SAMPLE_RATE * max(self.seconds_per_char * len(text), 0.1))
        t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
        tone: Pcm = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        return tone
