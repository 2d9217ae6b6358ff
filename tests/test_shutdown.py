"""Shutdown through the real daemon (`python -m bot run` as a subprocess, fake engine): whatever a task is
doing — crashed, swallowing its cancellation, stuck in a two-minute synthesis, still loading the model —
SIGTERM ends the process within 25 s (the unit's TimeoutStopSec is 30), with the summary line printed and
the state saved."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import bot.health
from bot.pipeline import Daemon
from bot.testing.fake_synthesizer import FakeSynthesizer
from tests.test_http_api import OpenSource
from tests.test_pipeline import RecordingSink, config

ROOT = Path(__file__).parent.parent
STOP_BOUND_S = 25.0


class Child:
    """`python -m bot run` with a fault installed; its stderr lines are collected as they come."""

    def __init__(self, tmp_path: Path, config: Path, fault: str) -> None:
        self.state = tmp_path / "state"
        self.held: socket.socket | None = None
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(
            "import os, bot.testing.faults\nbot.testing.faults.install(os.environ['ISHOWTTS_FAULT'])\n",
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "ISHOWTTS_FAULT": fault}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "-c", str(config)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=tmp_path,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._new.put(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            try:
                self.lines.append(self._new.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                self.proc.kill()
                pytest.fail(f"no {text!r} within {timeout:.0f} s:\n" + "\n".join(self.lines[-30:]))

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def exit_within(self, bound: float) -> tuple[int, str]:
        try:
            code = self.proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = -9
        if self.held is not None:
            self.held.close()
        time.sleep(0.2)  # the collector drains the pipe
        while not self._new.empty():
            self.lines.append(self._new.get())
        return code, "\n".join(self.lines)


def sigterm(child: Child) -> None:
    child.proc.send_signal(signal.SIGTERM)


def sighup_then_sigterm(child: Child) -> None:
    child.proc.send_signal(signal.SIGHUP)
    child.wait_for("fault: reload")
    time.sleep(0.2)
    child.proc.send_signal(signal.SIGTERM)


def request_in_flight_then_sigterm(child: Child) -> None:
    """A control request whose body is still coming when the stop arrives."""
    port = int(next(line for line in child.lines if "status page on" in line).split(":")[-1].split("/")[0])
    token = (child.state / "http-token").read_text(encoding="utf-8").strip()
    child.held = socket.create_connection(("127.0.0.1", port))
    head = f"POST /api/say HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Length: 99\r\n\r\n"
    child.held.sendall(head.encode() + b'{"text": ')
    time.sleep(0.5)
    child.proc.send_signal(signal.SIGTERM)


def speak_slowly_then_sigterm(child: Child) -> None:
    child.say("slow: a two-minute synthesis")
    child.wait_for("fault: synthesising")
    child.proc.send_signal(signal.SIGTERM)


CASES: dict[str, tuple[str, Callable[[Child], None], int]] = {
    # fault: (what to wait for before acting, the action, the expected exit status)
    "heartbeat-swallows": ("ready:", sigterm, 0),
    "reader-swallows": ("ready:", sigterm, 0),
    "reader-crashes": ("ready:", lambda child: child.say("one line, then the reader's bug"), 1),
    "reloader-crashes": ("ready:", sighup_then_sigterm, 1),
    "long-synthesis": ("ready:", speak_slowly_then_sigterm, 0),
    "long-torch-synthesis": ("ready:", speak_slowly_then_sigterm, 0),  # no abort in torch's pools at exit
    "slow-load": ("fault: loading", sigterm, 0),
    "http-request-in-flight": ("ready:", request_in_flight_then_sigterm, 0),
}


@pytest.mark.parametrize("fault", list(CASES))
def test_a_stop_ends_in_time_with_the_summary_and_the_state_saved(
    tmp_path: Path, tiny_config: Callable[..., Path], fault: str
) -> None:
    state = tmp_path / "state"
    config = tiny_config(extra=f"state_dir: {state}\n")
    wait, act, status = CASES[fault]
    child = Child(tmp_path, config, fault)
    child.wait_for(wait)
    t0 = time.monotonic()
    act(child)
    code, log = child.exit_within(STOP_BOUND_S + 5)
    took = time.monotonic() - t0
    print(f"{fault}: exit {code} {took:.1f} s after the stop")
    assert took < STOP_BOUND_S, f"{fault}: exited {took:.1f} s after the stop\n{log[-3000:]}"
    assert code == status, log[-3000:]
    assert "received " in log.splitlines()[-1], log[-3000:]  # the summary is the last word
    assert (state / "state.json").is_file(), log[-3000:]
    assert "Traceback" not in log or fault.endswith("crashes"), log[-3000:]
    assert "terminate called" not in log, log[-3000:]


def test_the_heartbeat_does_not_swallow_a_cancellation_that_meets_its_ping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The race itself, in process: the ping completes in the same loop step as the task is cancelled."""
    monkeypatch.setattr(bot.health, "HEARTBEAT_S", 0.5)
    daemon = Daemon(config(), OpenSource(), lambda: FakeSynthesizer(voices=["zh"]), RecordingSink())

    async def main() -> None:
        run = asyncio.create_task(daemon.run())
        while not daemon.ready:
            await asyncio.sleep(0.01)
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asked = asyncio.Event()

        def ping() -> asyncio.Future[None]:
            asked.set()
            return gate

        monkeypatch.setattr(daemon.worker, "ping", ping)
        await asked.wait()  # the heartbeat is now waiting on the gate (for up to 0.5 s)
        (heartbeat,) = [t for t in asyncio.all_tasks() if t.get_name() == "heartbeat"]
        gate.set_result(None)
        heartbeat.cancel()
        await asyncio.wait({heartbeat}, timeout=1.0)
        ended = heartbeat.done()
        daemon.request_stop()
        await run
        assert ended and heartbeat.cancelled()

    asyncio.run(main())


def test_an_output_failure_drops_that_utterance_and_the_daemon_goes_on(
    tmp_path: Path, tiny_config: Callable[..., Path]
) -> None:
    """The WAV folder replaced by a file (as a full disk or EMFILE would fail the write): that utterance is
    dropped and counted, the next one is written once the folder is back, SIGTERM still ends cleanly."""
    out, state = tmp_path / "out", tmp_path / "state"
    config = tiny_config(output=f"{{type: wav, path: {out}}}", extra=f"state_dir: {state}\n")
    child = Child(tmp_path, config, "none")
    child.wait_for("ready:")
    child.say("一")
    child.wait_for("speaking #1")
    deadline = time.monotonic() + 30
    while not list(out.glob("00001-*.wav")) and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(out)
    out.write_bytes(b"not a folder")
    child.say("二")
    child.wait_for("audio output failed")
    out.unlink()
    child.say("三")
    child.wait_for("audio output works again after 1 dropped utterance")
    child.proc.send_signal(signal.SIGTERM)
    code, log = child.exit_within(STOP_BOUND_S)
    assert code == 0, log[-3000:]
    assert [p.name for p in out.glob("*.wav")] == ["00003-zh.wav"]
    assert not list(out.glob(".*.part"))
    summary = log.splitlines()[-1]
    assert "spoken 2," in summary and "output_failed=1" in summary, summary
    assert (state / "state.json").is_file()
    assert "Traceback" not in log
