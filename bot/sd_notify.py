"""systemd's notify protocol over $NOTIFY_SOCKET, without a systemd library.

One datagram per message (`READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1`) to the socket systemd
names in $NOTIFY_SOCKET: a filesystem path, or an abstract socket written with a leading `@`. Outside
systemd the variable is unset and every call is a no-op. A send that fails is logged once and never
raises: the bot must not die because its supervisor's socket went away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        self._warned = False
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        """Send `fields` (e.g. "READY=1", "STATUS=speaking") as one message; True if it was sent."""
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode("utf-8"), self.address)
            return True
        except OSError as err:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), err)
                self._warned = True
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec (from $WATCHDOG_USEC, if meant for this process), else None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2e6, 0.01)
    except ValueError:
        return None


EXTEND_SECONDS = 30


async def extend_start_timeout(notifier: Notifier) -> None:
    """Loading the model and capturing graphs can outlast TimeoutStartSec on a Jetson: keep asking
    systemd for EXTEND_SECONDS more, every third of that, until cancelled (at READY)."""
    while True:
        notifier.send(f"EXTEND_TIMEOUT_USEC={EXTEND_SECONDS * 1_000_000}")
        await asyncio.sleep(EXTEND_SECONDS / 3)
