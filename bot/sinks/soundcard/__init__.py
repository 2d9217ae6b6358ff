"""The sound card through PortAudio (`output: {type: sounddevice}`): its settings, its check and its
factory. The sink is in sink.py, imported only when this output is chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from bot.component import Findings, OutputComponent, OutputSettings
from bot.errors import UserError

if TYPE_CHECKING:
    from bot.protocols import AudioSink


class SoundDeviceOutput(OutputSettings):
    """The sound card, through PortAudio (sounddevice). `ishowtts-bot devices` lists what can be named."""

    type: Literal["sounddevice"]
    device: str | Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="an output's index, or a case-insensitive part of its name; null = the default"
    )
    rate: int | None = Field(default=None, ge=8000, le=384_000, description="null = the device's native rate")
    volume: float = Field(default=1.0, ge=0.0, le=4.0, description="linear gain on every voice; a limiter stops clips")
    gap_ms: int = Field(default=250, ge=0, le=10_000, description="silence between utterances")
    buffer_s: float = Field(default=10.0, ge=1.0, le=120.0, description="audio held ahead of the card")
    latency: Literal["low", "high"] | Annotated[float, Field(gt=0, le=2)] = Field(
        default=0.1,
        description="PortAudio's suggested latency, seconds or low | high. 0.1 plays without audio-server "
        "underruns on a loaded 2-core machine (bench/audio_latency.py: `low` gave hundreds a minute); a skip "
        "is heard this much later",
    )


def _make(cfg: SoundDeviceOutput, stale_after_s: float | None) -> AudioSink:
    from bot.sinks.soundcard.sink import SoundCardSink

    return SoundCardSink(cfg, stale_after_s=stale_after_s)


def _check(cfg: SoundDeviceOutput) -> Findings:
    """The named device must be there now (the daemon itself would wait for it to appear)."""
    from bot.sinks.soundcard.output_stream import find_output_device, list_output_devices

    try:
        find_output_device(cfg.device, list_output_devices())
    except UserError as err:
        return Findings(problems=[f"output.device: {err}"])
    except Exception as err:  # PortAudio missing or broken
        return Findings(problems=[f"output.device: cannot list audio outputs: {err}"])
    return Findings()


COMPONENT = OutputComponent(SoundDeviceOutput, make=_make, check=_check)
