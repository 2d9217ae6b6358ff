"""Underruns of the audio server at each `output.latency`, on this machine, under CPU load.

Plays the same speech-like audio through the real path (SoundCardSink -> PortAudio -> ALSA pulse plugin
-> a PulseAudio null sink, as tests/sinks/pulse.py sets up) while `--hogs` busy processes compete for the
CPU (a synthesis burst, a browser, OBS), and counts what the audio server reported: PortAudio's output
underflow flags plus ALSA's "underrun occurred" (bot/sinks/soundcard/alsa_errors.py), and our own starvation.

    PYTHONPATH=. python bench/audio_latency.py --seconds 30 --hogs 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time

import numpy as np

from bot.events import ChatEvent, SpeechRequest, Utterance
from bot.sinks.soundcard import SoundDeviceOutput, alsa_errors
from bot.sinks.soundcard.sink import SoundCardSink
from bot.testing.voice_clips import speechlike
from tests.sinks.soundcard.pulse import PulseServer


def hog(stop: float) -> None:
    x = 0
    while time.monotonic() < stop:
        x += 1


async def play(latency: str | float, seconds: float) -> tuple[int, float]:
    sink = SoundCardSink(SoundDeviceOutput(type="sounddevice", device="pulse", latency=latency, gap_ms=250))
    await sink.start()
    xruns_before = alsa_errors.counts.xruns
    for i in range(int(seconds / 3)):
        request = SpeechRequest(text="x", voice="zh", event=ChatEvent(text="x"), seq=i)
        await sink.play(Utterance(request=request, pcm=speechlike(2.75, seed=i).astype(np.float32)))
    await sink.close()
    return sink.device_underruns - xruns_before, sink.starved_seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--latency", nargs="*", default=["low", "high", "0.2"])
    args = parser.parse_args()
    server = PulseServer()
    os.environ.update({k: server.env[k] for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER", "HOME")})
    server.start()
    try:
        for spec in args.latency:
            latency: str | float = spec if spec in ("low", "high") else float(spec)
            stop = time.monotonic() + args.seconds + 5
            hogs = [multiprocessing.Process(target=hog, args=(stop,)) for _ in range(args.hogs)]
            for p in hogs:
                p.start()
            underruns, starved = asyncio.run(play(latency, args.seconds))
            for p in hogs:
                p.terminate()
                p.join()
            print(
                f"latency {spec!s:>5}: {underruns} underruns reported by the audio server, "
                f"{starved:.2f} s starved, {args.seconds:.0f} s played, {args.hogs} CPU hogs, {os.cpu_count()} cores"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
