"""Discards audio, counting it: benchmarks and dry runs measure everything up to the sound card."""

from __future__ import annotations

from bot.events import Pcm, Utterance
from bot.sinks.controls import ImmediateControls


class NullSink(ImmediateControls):
    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    async def write(self, utterance: Utterance) -> None:
        self.count += 1
        self.seconds += utterance.duration

    async def append(self, utterance: Utterance, rest: Pcm) -> None:
        self.seconds += len(rest) / utterance.sample_rate

    async def close(self) -> None:
        return None
