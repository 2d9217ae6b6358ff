"""Audio sinks: where utterances go. `make_sink` picks one from the config."""

from __future__ import annotations

from bot.config import NullOutput, WavOutput
from bot.protocols import AudioSink


def make_sink(cfg: WavOutput | NullOutput) -> AudioSink:
    if isinstance(cfg, WavOutput):
        from bot.sinks.wav import WavSink

        return WavSink(cfg.path, cfg.gap_ms)
    from bot.sinks.null import NullSink

    return NullSink()
