"""A real PulseAudio server for tests: a null sink whose monitor is recorded with `parec`, reached from
PortAudio through ALSA's pulse plugin (the `pulse` ALSA device), exactly as the bot reaches a desktop's
audio server.

Why a keep-alive stream: an idle null sink runs with a 2 s latency and places a newly connected stream
behind it (up to 2 s of delay); a real card runs on its own clock. A low-latency `pacat` into the sink
keeps it running like one, so what is recorded is timed as a listener would hear it. It plays a constant
one-LSB offset (FLOOR), not zeros: PulseAudio ships digital silence to recorders as "holes", which `parec`
drops, so silences (the very gaps the tests look for) would vanish from the recording.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

RATE = 48_000
SINK = "bot_sink"
FLOOR = 1 / 32768
"""What the recording holds where nothing is played."""

CONFIG = f"""\
load-module module-null-sink sink_name={SINK} rate={RATE} channels=2
set-default-sink {SINK}
load-module module-native-protocol-unix
"""


def missing_tools() -> list[str]:
    return [t for t in ("pulseaudio", "pactl", "pacat", "parec") if shutil.which(t) is None]


class Recorder:
    """`parec` of the sink's monitor, mono float32 at RATE, read continuously on a thread. Each chunk's
    arrival time is kept, so a moment on the wall clock can be found in the recording (`index_at`)."""

    def __init__(self, env: dict[str, str]) -> None:
        self._buf = bytearray()
        self._origin = float("inf")  # wall time of sample 0: the earliest (least delayed) arrival, back-dated
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [
                "parec",
                "-d",
                f"{SINK}.monitor",
                "--raw",
                "--format=float32le",
                f"--rate={RATE}",
                "--channels=1",
                "--latency-msec=10",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while chunk := self._proc.stdout.read1(65536):
            now = time.monotonic()
            with self._lock:
                self._buf.extend(chunk)
                self._origin = min(self._origin, now - len(self._buf) / 4 / RATE)

    def index_at(self, t: float) -> int:
        """The recording's sample heard at monotonic time `t` (an upper bound: it ignores parec's own delay,
        so intervals measured from it err on the long side)."""
        return round((t - self._origin) * RATE)

    def samples(self) -> np.ndarray:
        with self._lock:
            data = bytes(self._buf[: len(self._buf) // 4 * 4])
        return np.frombuffer(data, dtype=np.float32).copy()

    def stop(self) -> np.ndarray:
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._thread.join(timeout=5)
        return self.samples()


class PulseServer:
    def __init__(self) -> None:
        # A short path: the server's socket path must fit in a sockaddr_un (108 bytes).
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="pa-"))
        self.runtime_dir.chmod(0o700)
        self.config = self.runtime_dir / "test.pa"
        self.config.write_text(CONFIG)
        self.env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PULSE_SERVER": f"unix:{self.runtime_dir}/pulse/native",
            "HOME": str(self.runtime_dir),
        }
        self._server: subprocess.Popen[bytes] | None = None
        self._keepalive: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._server = subprocess.Popen(
            [
                "pulseaudio",
                "-n",
                "-F",
                str(self.config),
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--use-pid-file=no",
                "--log-target=stderr",
                "--log-level=error",
            ],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sock_path = self.runtime_dir / "pulse" / "native"
        deadline = time.monotonic() + 15
        while True:
            if self._server.poll() is not None:
                raise RuntimeError(f"pulseaudio exited with status {self._server.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not come up within 15 s")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.connect(str(sock_path))
                break
            except OSError:
                time.sleep(0.05)
        floor = self.runtime_dir / "floor.raw"
        floor.write_bytes(np.ones(2 * RATE, dtype="<i2").tobytes())  # 1 s of +1 LSB, stereo
        self._keepalive = subprocess.Popen(
            [
                "sh",
                "-c",
                f'while cat "$1"; do :; done | pacat --playback --raw --format=s16le --rate={RATE} '
                f"--channels=2 --latency-msec=20 -d {SINK}",
                "keepalive",
                str(floor),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_until_in_time()

    def _wait_until_in_time(self) -> None:
        """Right after start-up the null sink may have rendered up to 2 s ahead (so a new stream would be
        heard that late); wait, bounded, until it runs at the keep-alive's 20 ms latency."""
        deadline = time.monotonic() + 10
        latency_us = -1
        while time.monotonic() < deadline:
            out = subprocess.run(["pactl", "list", "sinks"], env=self.env, capture_output=True, text=True).stdout
            match = re.search(r"^\s*Latency: (\d+) usec", out, re.MULTILINE)
            latency_us = int(match.group(1)) if match else -1
            if 0 <= latency_us < 50_000:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the null sink's latency stayed at {latency_us} us")

    def record(self) -> Recorder:
        return Recorder(self.env)

    def kill(self) -> None:
        """Like the audio server crashing: SIGKILL, no goodbye to clients."""
        if self._keepalive is not None and self._keepalive.poll() is None:
            os.killpg(self._keepalive.pid, signal.SIGKILL)
            self._keepalive.wait(timeout=5)
        if self._server is not None and self._server.poll() is None:
            self._server.kill()
            self._server.wait(timeout=5)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
