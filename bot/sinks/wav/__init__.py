"""Utterances recorded into WAV files (`output: {type: wav, path: ...}`): its settings and its factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from bot.component import OutputComponent, OutputSettings
from bot.config_fields import ConfigPath

if TYPE_CHECKING:
    from bot.protocols import AudioSink


class WavOutput(OutputSettings):
    """Record utterances: into one WAV file (`path` ends in .wav) or one file per utterance (a folder)."""

    type: Literal["wav"]
    path: ConfigPath
    gap_ms: int = Field(default=300, ge=0, le=10_000)


def _make(cfg: WavOutput, stale_after_s: float | None) -> AudioSink:
    """A file never goes away, so nothing waits long enough to be stale."""
    from bot.sinks.wav.sink import WavSink

    return WavSink(cfg.path, cfg.gap_ms)


COMPONENT = OutputComponent(WavOutput, make=_make)
