"""The seams of the pipeline. Each hardware or service dependency sits behind one of these, with a fake
beside the real implementation, so stages can be swapped (Bilibili for replay, a sound card for WAV)
without rewiring the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from bot.events import ChatEvent, Pcm, Utterance


@runtime_checkable
class ChatSource(Protocol):
    """Yields chat events until the source is exhausted (replay) or cancelled (live)."""

    def events(self) -> AsyncIterator[ChatEvent]: ...


@runtime_checkable
class Synthesizer(Protocol):
    """Text to 24 kHz float32 PCM. Blocking: called only from the GPU worker thread."""

    def voices(self) -> list[str]: ...

    def synthesize(self, text: str, voice: str) -> Pcm: ...


@runtime_checkable
class AudioSink(Protocol):
    """Plays (or records) utterances in the order given. `play` returns once the utterance is handed off."""

    async def play(self, utterance: Utterance) -> None: ...

    async def close(self) -> None: ...
