"""Audio sinks: where utterances go. `make_sink` picks one from the config."""

from __future__ import annotations

from bot.config import NullOutput, SoundDeviceOutput, WavOutput
from bot.protocols import AudioSink


def make_sink(cfg: WavOutput | NullOutput | SoundDeviceOutput, stale_after_s: float | None = None) -> AudioSink:
    if isinstance(cfg, WavOutput):
        from bot.sinks.wav.sink import WavSink

        return WavSink(cfg.path, cfg.gap_ms)
    if isinstance(cfg, SoundDeviceOutput):
        from bot.sinks.soundcard.sink import SoundCardSink

        return SoundCardSink(cfg, stale_after_s=stale_after_s)
    if cfg.realtime:
        from bot.sinks.soundcard.output_stream import open_clock_stream
        from bot.sinks.soundcard.sink import SoundCardSink

        card = SoundDeviceOutput(type="sounddevice", gap_ms=cfg.gap_ms)
        return SoundCardSink(card, opener=open_clock_stream, stale_after_s=stale_after_s)
    from bot.sinks.null.sink import NullSink

    return NullSink()
