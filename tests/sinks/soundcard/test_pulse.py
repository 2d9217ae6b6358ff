"""The sound-card sink through a real audio server: PortAudio -> ALSA pulse plugin -> PulseAudio null sink,
recorded from the sink's monitor with `parec`. `bash bot/setup.sh test` installs the Debian packages."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soxr

from bot.events import SAMPLE_RATE, ChatEvent, SpeechRequest, Utterance
from bot.sinks.soundcard import SoundDeviceOutput
from bot.sinks.soundcard.sink import SoundCardSink
from tests.conftest import make_tiny_synthesizer
from tests.sinks.soundcard.pulse import FLOOR, RATE, PulseServer, missing_tools


@pytest.fixture
def pulse(monkeypatch: pytest.MonkeyPatch) -> Iterator[PulseServer]:
    missing = missing_tools()
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run the tests with `bash bot/setup.sh test`")
    server = PulseServer()
    for key in ("XDG_RUNTIME_DIR", "PULSE_SERVER", "HOME"):
        monkeypatch.setenv(key, server.env[key])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def utterance(pcm: np.ndarray, seq: int = 1) -> Utterance:
    req = SpeechRequest(text="t", voice="zh", event=ChatEvent(text="t"), seq=seq)
    return Utterance(request=req, pcm=pcm.astype(np.float32))


def sink_for_pulse(**over: object) -> SoundCardSink:
    cfg = SoundDeviceOutput.model_validate({"type": "sounddevice", "device": "pulse", "gap_ms": 0, **over})
    return SoundCardSink(cfg)


def nonzero_span(rec: np.ndarray, threshold: float = 3 * FLOOR) -> tuple[int, int]:
    idx = np.flatnonzero(np.abs(rec) > threshold)
    assert len(idx), "nothing was heard"
    return int(idx[0]), int(idx[-1]) + 1


def silent_runs(x: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of nothing played (the recording's floor is one LSB)."""
    silent = np.r_[False, np.abs(x) < 3 * FLOOR, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(silent))
    return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


@pytest.fixture(scope="module")
def engine_pcm(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> np.ndarray:
    return make_tiny_synthesizer(tmp_path_factory.mktemp("cfg"), tiny_model).synthesize(
        "主播好厉害，这波操作太秀了！", "zh"
    )


async def test_engine_output_reaches_the_card_intact(pulse: PulseServer, engine_pcm: np.ndarray) -> None:
    rec = pulse.record()
    sink = sink_for_pulse(rate=RATE)  # the server's own rate: our soxr does the only resampling
    await sink.start()
    assert sink.stats.device == "pulse" and sink.stats.rate == RATE
    await sink.play(utterance(engine_pcm))
    await sink.close()
    await asyncio.sleep(0.2)
    heard = rec.stop()
    start, end = nonzero_span(heard)
    # What the card should have received: the engine's 24 kHz audio at the card's 48 kHz (resampling at
    # our end keeps the comparison on whole samples). Align by cross-correlation, compare sample by sample.
    expected = soxr.resample(engine_pcm, SAMPLE_RATE, RATE)
    window = heard[max(0, start - RATE // 10) : end + RATE // 10] - FLOOR
    corr = np.correlate(window, expected[:9600], mode="valid")
    lag = int(np.argmax(corr))
    got = window[lag : lag + len(expected)]
    assert len(got) == len(expected), "the end of the utterance was not heard"
    r = float(np.corrcoef(got, expected)[0, 1])
    level_db = 20 * np.log10(np.sqrt(np.mean(got**2)) / np.sqrt(np.mean(expected**2)))
    print(f"recorded vs engine: correlation {r:.4f}, level {level_db:+.2f} dB")
    assert r > 0.9, r
    assert abs(level_db) < 1.0, level_db
    assert sink.starved_seconds == 0.0


async def test_skip_silences_within_50_ms(pulse: PulseServer) -> None:
    """The sink's own reaction, on PortAudio's lowest latency (the default buffers 0.1 s more, heard later)."""
    rec = pulse.record()
    tone = 0.4 * np.sin(2 * np.pi * 440 * np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE)
    sink = sink_for_pulse(latency="low")
    await sink.start()
    await sink.play(utterance(tone))
    await asyncio.sleep(1.0)
    skipped_at = time.monotonic()
    assert sink.skip()
    await asyncio.sleep(0.5)
    await sink.close()
    heard = rec.stop()
    start, end = nonzero_span(heard)
    late_ms = (end - rec.index_at(skipped_at)) / RATE * 1000
    print(f"tone heard for {(end - start) / RATE * 1000:.1f} ms; silent {late_ms:.1f} ms after skip()")
    assert 0.9 < (end - start) / RATE < 1.1
    assert late_ms <= 50
    tail = heard[end - int(0.003 * RATE) : end]
    assert np.max(np.abs(tail)) < 0.4 * 0.5  # it faded out rather than stopping at full level


async def test_audio_server_killed_and_restarted_mid_stream_playback_resumes(pulse: PulseServer) -> None:
    tone = 0.3 * np.sin(2 * np.pi * 330 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE)
    sink = sink_for_pulse()
    await sink.start()
    for i in range(3):
        await sink.play(utterance(tone, seq=i))
    await asyncio.sleep(0.5)
    pulse.kill()
    await asyncio.sleep(1.0)
    pulse.start()
    rec = pulse.record()
    for _ in range(300):  # bounded: 15 s
        if sink.stats.reopens >= 1 and sink._stream is not None:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)
    heard = rec.stop()
    await sink.close()
    assert sink.stats.reopens >= 1
    start, end = nonzero_span(heard)
    assert (end - start) / RATE > 1.0  # the bot is audible again


def test_daemon_plays_gapless_utterances_while_synthesising_the_next(
    pulse: PulseServer, tmp_path: Path, tiny_config: Callable[..., Path]
) -> None:
    replay = tmp_path / "chat.jsonl"
    texts = ["主播好厉害，这波操作太秀了！", "今天的 boss 战太难了", "关注了关注了，晚上好", "再见啦，明天见"]
    replay.write_text("\n".join(json.dumps({"t": 0, "text": t}, ensure_ascii=False) for t in texts) + "\n")
    cfg = tiny_config(
        source=f"{{type: replay, path: {replay}, speed: 0}}",
        output="{type: sounddevice, device: pulse, gap_ms: 300}",
        extra="engine: {max_batch: 1}\n",
    )
    rec = pulse.record()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **pulse.env},
        check=False,
    )
    time.sleep(0.3)
    heard = rec.stop()
    assert proc.returncode == 0, proc.stderr
    assert "audio output: pulse at" in proc.stderr and "Traceback" not in proc.stderr
    start, end = nonzero_span(heard)
    runs = silent_runs(heard[start:end])
    gaps = [n for _, n in runs if n > 0.25 * RATE]
    glitches = [n for _, n in runs if 0.02 * RATE < n <= 0.25 * RATE]
    assert len(gaps) == len(texts) - 1, [n / RATE for _, n in runs if n > 48]
    assert not glitches, f"silences of {[round(n / RATE * 1000) for n in glitches]} ms inside utterances"
    assert "spoken 4" in proc.stderr


def test_devices_lists_the_outputs_and_check_flags_an_absent_one(
    pulse: PulseServer, tiny_config: Callable[..., Path]
) -> None:
    env = {**os.environ, **pulse.env}
    listing = subprocess.run([sys.executable, "-m", "bot", "devices"], capture_output=True, text=True, env=env)
    assert listing.returncode == 0 and "pulse" in listing.stdout and "Hz" in listing.stdout
    cfg = tiny_config(output="{type: sounddevice, device: 'USB headset'}")
    check = subprocess.run(
        [sys.executable, "-m", "bot", "check", "-c", str(cfg)], capture_output=True, text=True, env=env
    )
    assert check.returncode == 1
    assert "config.yaml: output.device: no output device named like 'USB headset'" in check.stdout
