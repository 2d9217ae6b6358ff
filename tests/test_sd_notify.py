"""sd_notify over a real datagram socket, and the daemon's READY/STATUS/WATCHDOG/STOPPING sequence."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.pipeline import Daemon
from bot.sd_notify import Notifier, watchdog_interval
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.worker import JobClock
from tests.test_pipeline import ListSource, RecordingSink, config


class Listener:
    """Plays systemd's side: reads datagrams as they come (in a thread, as systemd would: the kernel
    queues only ~10 unread datagrams per socket)."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, str]] = []
        self._open = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._open:
            try:
                self.received.append((time.monotonic(), self.sock.recv(4096).decode()))
            except (TimeoutError, OSError):
                continue

    def drain(self) -> list[str]:
        time.sleep(0.1)
        return [m for _, m in self.received]

    def close(self) -> None:
        self._open = False
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    lis = Listener(f"@ishowtts-test-{tmp_path.name}")
    yield lis
    lis.close()


def test_abstract_and_path_sockets(tmp_path: Path, listener: Listener) -> None:
    n = Notifier(f"@ishowtts-test-{tmp_path.name}")
    assert n.send("READY=1", "STATUS=hi")
    assert listener.drain() == ["READY=1\nSTATUS=hi"]
    path_listener = Listener(str(tmp_path / "notify.sock"))
    assert Notifier(str(tmp_path / "notify.sock")).send("WATCHDOG=1")
    assert path_listener.drain() == ["WATCHDOG=1"]
    path_listener.close()


def test_unset_is_a_no_op_and_a_vanished_socket_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().enabled and not Notifier().send("READY=1")
    gone = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert gone.enabled and not gone.send("READY=1") and not gone.send("READY=1")


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval() is None


def test_daemon_notifies_ready_status_watchdog_stopping(
    tmp_path: Path, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", f"@ishowtts-test-{tmp_path.name}")
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 100 ms
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    fake = FakeSynthesizer(voices=["zh"], delay_s=0.6)
    daemon = Daemon(config(), ListSource(["一", "二"], gap_s=0.9), lambda: fake, RecordingSink())
    asyncio.run(daemon.run())
    messages = listener.drain()
    # while loading: more start time asked for (a Jetson loads slowly), then READY once warm and connected
    assert sorted(messages[:2]) == ["EXTEND_TIMEOUT_USEC=30000000", "STATUS=loading the model"]
    assert messages[2].startswith("READY=1\nSTATUS=ready; voices zh")
    assert "STATUS=spoken 2, queued 0 (normal), paused no, muted 0, voice zh, dropped 0" in messages
    assert messages[-1] == "STOPPING=1", messages
    pings = [t for t, m in listener.received if m == "WATCHDOG=1"]
    assert len(pings) >= 10
    # the worker thread was busy for 0.6 s per utterance, six pings' worth: slow is not hung, the pings
    # went on (the watchdog is about progress)
    assert max(b - a for a, b in itertools.pairwise(pings)) < 0.4


def test_a_hung_engine_withholds_the_watchdog_after_its_bound(
    tmp_path: Path, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", f"@ishowtts-test-{tmp_path.name}")
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    hang = threading.Event()
    fake = FakeSynthesizer(voices=["zh"], hang=hang)
    daemon = Daemon(config(), ListSource(["一"]), lambda: fake, RecordingSink())
    daemon.worker.clock = JobClock(floor_s=0.5, ceiling_s=0.5)

    async def main() -> None:
        run = asyncio.create_task(daemon.run())
        deadline = time.monotonic() + 20
        while not fake.calls and not run.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await asyncio.sleep(1.5)
        hang.set()
        await asyncio.wait_for(run, 20)
        pings = [t - started for t, m in listener.received if m == "WATCHDOG=1"]
        # fed while the hung call was within its 0.5 s bound, starved from then on until it returned
        assert [t for t in pings if 0.1 < t < 0.4] and not [t for t in pings if 0.75 < t < 1.5], pings

    asyncio.run(main())
