"""Speech discarded, or played to a sound card nobody hears (`output: {type: null}`): its settings and
its factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from bot.component import OutputComponent, OutputSettings

if TYPE_CHECKING:
    from bot.protocols import AudioSink


class NullOutput(OutputSettings):
    """Discards speech. `realtime: true` makes it a sound card nobody hears: each message takes its own
    length to "play", so pause, skip, "now speaking" and the captions overlay behave as on a real card."""

    type: Literal["null"]
    realtime: bool = Field(default=False, description="play at the speed of sound instead of at once")
    gap_ms: int = Field(default=250, ge=0, le=10_000, description="silence between utterances (realtime only)")


def _make(cfg: NullOutput, stale_after_s: float | None) -> AudioSink:
    if cfg.realtime:
        from bot.sinks.soundcard import SoundDeviceOutput
        from bot.sinks.soundcard.output_stream import open_clock_stream
        from bot.sinks.soundcard.sink import SoundCardSink

        card = SoundDeviceOutput(type="sounddevice", gap_ms=cfg.gap_ms)
        return SoundCardSink(card, opener=open_clock_stream, stale_after_s=stale_after_s)
    from bot.sinks.null.sink import NullSink

    return NullSink()


COMPONENT = OutputComponent(NullOutput, make=_make)
