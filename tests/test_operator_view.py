"""What the operator sees is true: an output nobody hears is not "ready", a saved default voice that
overrides the config says so, ALSA's complaints are counted instead of spilled on stderr, and a reload
applies what it can (the output's max age, the HTTP address) and names what needs a restart."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.config import load_config
from bot.http_api import HttpApi
from bot.pipeline import Daemon
from bot.sinks.soundcard import SoundDeviceOutput, alsa_errors
from bot.sinks.soundcard.output_stream import FillCallback, OutputStream
from bot.sinks.soundcard.sink import SoundCardSink
from bot.state_store import ModerationState, StateStore
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.testing.voice_clips import ZH_REF
from tests.test_reload import Chat, until, write_config
from tests.test_sd_notify import Listener

TWO_VOICES = [
    {"id": "zh", "ref_audio": ZH_REF, "ref_text": "你好"},
    {"id": "en", "ref_audio": ZH_REF, "ref_text": "hi"},
]


def test_an_output_that_does_not_exist_is_ready_but_degraded_and_a_saved_voice_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"@ishowtts-degraded-{tmp_path.name}"
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    listener = Listener(address)
    path = write_config(tmp_path / "config.yaml", voices=TWO_VOICES)
    cfg = load_config(path)
    store = StateStore(cfg.resolved_state_dir())
    store.prepare()
    asyncio.run(store.save(ModerationState(default_voice="en")))  # a moderator's `#tts voice en`, last stream
    sink = SoundCardSink(SoundDeviceOutput(type="sounddevice", device="no such output anywhere"))
    daemon = Daemon(cfg, Chat(), lambda: FakeSynthesizer(voices=["zh", "en"]), sink)

    async def main() -> None:
        run = asyncio.create_task(daemon.run())
        await until(lambda: daemon.ready, timeout=20)
        assert daemon.health.problems() == ["audio output down"]
        daemon.request_stop()
        await run

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    listener.close()
    lines = [r.getMessage() for r in caplog.records]
    assert not any(line.startswith("ready: ") for line in lines)
    degraded = [line for line in lines if line.startswith("ready but degraded")]
    assert degraded == [
        "ready but degraded: the audio output cannot play (nobody hears speech); "
        "default en (saved by a moderator's voice command; the config says zh)"
    ]
    assert any(line.startswith("cannot open the audio output") for line in lines)
    assert "READY=1\nSTATUS=degraded: the audio output cannot play" in listener.drain()


def test_alsa_complaints_are_counted_not_printed() -> None:
    """In a fresh process (the handler is process-wide): ALSA asked for a device that does not exist
    prints "ALSA lib ... Unknown PCM" on stderr — unless the handler is installed."""
    probe = (
        "import ctypes, ctypes.util, sys\n"
        "from bot.sinks.soundcard import alsa_errors\n"
        "if sys.argv[1] == 'quiet': assert alsa_errors.capture()\n"
        "lib = ctypes.CDLL(ctypes.util.find_library('asound'))\n"
        "pcm = ctypes.c_void_p()\n"
        "assert lib.snd_pcm_open(ctypes.byref(pcm), b'no_such_pcm', 0, 0) < 0\n"
        "print(alsa_errors.counts.other, alsa_errors.counts.xruns)\n"
    )
    loud = subprocess.run([sys.executable, "-c", probe, "loud"], capture_output=True, text=True, check=True)
    quiet = subprocess.run([sys.executable, "-c", probe, "quiet"], capture_output=True, text=True, check=True)
    assert "ALSA lib" in loud.stderr and loud.stdout.split() == ["0", "0"]
    assert quiet.stderr == "" and int(quiet.stdout.split()[0]) >= 1
    before = alsa_errors.counts.xruns
    alsa_errors._handle(b"pcm.c", 8000, b"snd_pcm_recover", -32, b"%s occurred")  # what an underrun sends
    assert alsa_errors.counts.xruns == before + 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_reload_applies_the_outputs_max_age_and_the_http_address_and_names_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    voices = [{"id": "zh", "ref_audio": ZH_REF, "ref_text": "你好"}]
    first, second = free_port(), free_port()
    path = write_config(tmp_path / "config.yaml", voices=voices, http={"port": first})
    cfg = load_config(path)
    sink = SoundCardSink(SoundDeviceOutput(type="sounddevice"), opener=_never_opens, stale_after_s=60)
    daemon = Daemon(cfg, Chat(), lambda: FakeSynthesizer(voices=["zh"]), sink, config_path=path)
    api = HttpApi(daemon, cfg.http, token="t" * 32)

    async def main() -> None:
        await api.start()
        run = asyncio.create_task(daemon.run())
        await until(lambda: daemon.ready, timeout=20)
        write_config(path, voices=voices, queue={"max_age_s": 20}, http={"port": second, "max_body_bytes": 4096})
        assert await daemon.reload()
        assert sink.stale_after_s == 20 and daemon.queue.cfg.max_age_s == 20
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{second}/healthz") as r:
                assert r.status in (200, 503)
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(f"http://127.0.0.1:{first}/healthz"):
                    pass
        daemon.request_stop()
        await run
        await api.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    assert "reloaded; http.max_body_bytes changed but take effect only after a restart" in caplog.text


def _never_opens(
    device: str | int | None, rate: int | None, latency: str | float, fill: FillCallback, rescan: bool
) -> OutputStream:
    raise OSError("no card in this test")

