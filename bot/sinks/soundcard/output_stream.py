"""The sound-card seam: open a callback-driven output stream. The real one is PortAudio via sounddevice;
`FakeOutputStream` beside it plays into memory on a virtual clock, with failure knobs, so the sink's
logic (gaps, skip fades, starvation, reopening) is tested without an audio server. `ClockStream` is a
card nobody hears that takes audio in real time: `output: {type: null, realtime: true}` behaves exactly
like a sound card (pause, skip, captions, "now speaking") on a machine without one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bot.errors import UserError
from bot.events import SAMPLE_RATE, Pcm
from bot.sinks.soundcard import alsa_errors

log = logging.getLogger(__name__)

FillCallback = Callable[[Pcm], None]
"""Fills a mono float32 block completely. Called on the audio thread: must not block."""


class OutputStream(Protocol):
    samplerate: int
    device_name: str
    underflows: int
    """Callbacks the audio server (or driver) flagged as an output underflow: it ran dry on its side."""

    @property
    def latency(self) -> float:
        """Seconds from the callback taking audio to it being heard (what the server buffers)."""
        ...

    @property
    def active(self) -> bool:
        """False once the stream has stopped on its own (the device went away or the server died)."""
        ...

    def close(self) -> None: ...


class StreamOpener(Protocol):
    def __call__(
        self, device: str | int | None, rate: int | None, latency: str | float, fill: FillCallback, rescan: bool
    ) -> OutputStream:
        """Open and start a stream. `rescan` re-enumerates devices first (one may have come back)."""
        ...


@dataclass(frozen=True)
class OutputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: int
    is_default: bool


def list_output_devices() -> list[OutputDevice]:
    import sounddevice as sd

    try:
        default_out = sd.default.device[1]
    except Exception:  # pragma: no cover - depends on PortAudio's state
        default_out = -1
    apis = sd.query_hostapis()
    out = []
    for dev in sd.query_devices():
        if dev["max_output_channels"] > 0:
            out.append(
                OutputDevice(
                    index=dev["index"],
                    name=dev["name"],
                    hostapi=apis[dev["hostapi"]]["name"],
                    channels=dev["max_output_channels"],
                    default_rate=int(dev["default_samplerate"]),
                    is_default=dev["index"] == default_out,
                )
            )
    return out


def find_output_device(spec: str | int | None, devices: list[OutputDevice]) -> OutputDevice:
    """An index, an exact name, or a case-insensitive part of one name; None = PortAudio's default output."""
    if not devices:
        raise UserError("no audio output devices found (is the sound card or audio server there?)")
    if spec is None:
        for dev in devices:
            if dev.is_default:
                return dev
        return devices[0]
    if isinstance(spec, int):
        for dev in devices:
            if dev.index == spec:
                return dev
        raise UserError(f"no output device with index {spec} (see `ishowtts-bot devices`)")
    exact = [d for d in devices if d.name == spec]
    if exact:
        return exact[0]
    matches = [d for d in devices if spec.lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UserError(f"no output device named like {spec!r} (see `ishowtts-bot devices`)")
    names = ", ".join(repr(d.name) for d in matches)
    raise UserError(f"output device {spec!r} is ambiguous: {names}")


class SoundDeviceStream:
    """A started PortAudio output stream calling `fill` for every block; mono audio is copied to every
    channel the device needs. An exception in `fill` is counted and the block zeroed: it never stops the
    stream (sounddevice would abort it)."""

    def __init__(self, device: OutputDevice, rate: int, channels: int, latency: str | float, fill: FillCallback):
        import sounddevice as sd

        self.samplerate = rate
        self.device_name = device.name
        self.callback_errors = 0
        self.underflows = 0
        self._fill = fill
        self._stream = sd.OutputStream(
            device=device.index,
            samplerate=rate,
            channels=channels,
            dtype="float32",
            latency=latency,
            callback=self._callback,
        )
        self._stream.start()

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        if status.output_underflow:
            self.underflows += 1
        try:
            self._fill(outdata[:, 0])
            if outdata.shape[1] > 1:
                outdata[:, 1:] = outdata[:, :1]
        except BaseException:
            self.callback_errors += 1
            outdata.fill(0)

    @property
    def active(self) -> bool:
        return bool(self._stream.active)

    @property
    def latency(self) -> float:
        return float(self._stream.latency)

    def close(self) -> None:
        self._stream.close(ignore_errors=True)


def open_sounddevice_stream(
    device: str | int | None, rate: int | None, latency: str | float, fill: FillCallback, rescan: bool
) -> SoundDeviceStream:
    """Pick the device and a rate it takes: its native rate first (our band-limited resampler then does the
    only conversion, instead of a driver's or audio server's cheaper one), 24 kHz otherwise; mono if it can."""
    alsa_errors.capture()  # before PortAudio starts probing ALSA devices
    import sounddevice as sd

    if rescan:
        # PortAudio enumerates devices once, at initialisation: a re-plugged headset or a restarted audio
        # server is only seen after re-initialising it (all our streams are closed by now).
        sd._terminate()
        sd._initialize()
    dev = find_output_device(device, list_output_devices())
    rates = [rate] if rate else [dev.default_rate, SAMPLE_RATE]
    last: Exception | None = None
    for r in rates:
        for channels in (1, 2):
            if channels > dev.channels:
                continue
            try:
                sd.check_output_settings(device=dev.index, samplerate=r, channels=channels, dtype="float32")
            except Exception as err:
                last = err
                continue
            return SoundDeviceStream(dev, r, channels, latency, fill)
    raise UserError(f"output device {dev.name!r} takes none of the rates {rates} in mono or stereo: {last}")


@dataclass
class FakeOutputStream:
    """Plays into `recorded` when the test advances its virtual clock. `die()` makes it stop as if the
    device had been unplugged."""

    samplerate: int = SAMPLE_RATE
    device_name: str = "fake"
    blocksize: int = 240
    underflows: int = 0
    latency: float = 0.0
    fill: FillCallback | None = None
    recorded: list[Pcm] = field(default_factory=list)
    closed: bool = False
    _alive: bool = True

    @property
    def active(self) -> bool:
        return self._alive and not self.closed

    def die(self) -> None:
        self._alive = False

    def close(self) -> None:
        self.closed = True

    def advance(self, seconds: float) -> Pcm:
        """Run the callback for `seconds` of virtual time; returns what it played."""
        assert self.fill is not None
        blocks = []
        for _ in range(round(seconds * self.samplerate / self.blocksize)):
            if not self.active:
                break
            block = np.full(self.blocksize, np.nan, dtype=np.float32)
            self.fill(block)
            blocks.append(block)
        played = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
        self.recorded.append(played)
        return played


HOLD_MAX_S = 30.0
"""A held fake open goes on by itself after this long, so a failing test cannot leave its thread waiting."""


@dataclass
class FakeStreamOpener:
    """Hands out FakeOutputStreams; `fail_opens` opens raise first (device absent), as PortAudio would.
    With `hold`, an open waits until it is set, at most `HOLD_MAX_S` (PortAudio scanning slow devices)."""

    samplerate: int = SAMPLE_RATE
    fail_opens: int = 0
    hold: threading.Event | None = None
    opens: int = 0
    rescans: int = 0
    streams: list[FakeOutputStream] = field(default_factory=list)

    def __call__(
        self, device: str | int | None, rate: int | None, latency: str | float, fill: FillCallback, rescan: bool
    ) -> FakeOutputStream:
        self.opens += 1
        self.rescans += int(rescan)
        if self.hold is not None:
            self.hold.wait(HOLD_MAX_S)
        if self.fail_opens > 0:
            self.fail_opens -= 1
            raise UserError("no output device named like 'fake' (see `ishowtts-bot devices`)")
        stream = FakeOutputStream(samplerate=rate or self.samplerate, fill=fill)
        self.streams.append(stream)
        return stream

    @property
    def current(self) -> FakeOutputStream:
        return self.streams[-1]


class ClockStream:
    """A sound card nobody hears: a thread takes one block per block's worth of wall time."""

    device_name = "null (real time)"
    underflows = 0
    latency = 0.0

    def __init__(self, fill: FillCallback, samplerate: int = SAMPLE_RATE, blocksize: int = 480) -> None:
        self.samplerate = samplerate
        self._fill = fill
        self._blocksize = blocksize
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="null-audio-clock", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        block = np.zeros(self._blocksize, dtype=np.float32)
        period = self._blocksize / self.samplerate
        due = time.monotonic()
        while not self._stop.is_set():
            self._fill(block)
            due += period
            late = time.monotonic() - due
            if late > 1.0:  # the machine stalled: go on from now rather than race to catch up
                due = time.monotonic()
            self._stop.wait(max(0.0, -late))

    @property
    def active(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)


def open_clock_stream(
    device: str | int | None, rate: int | None, latency: str | float, fill: FillCallback, rescan: bool
) -> ClockStream:
    return ClockStream(fill, rate or SAMPLE_RATE)
