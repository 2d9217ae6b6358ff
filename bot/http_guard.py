"""What keeps the HTTP side from being a way in or a way down, apart from the token (bot/http_api.py).

- A cap on open connections, well below the process's file-descriptor limit: past it a new connection
  gets a bare 503 and is closed at once, so idle or slow clients can never use up the descriptors the
  audio output and the state files need (EMFILE there would drop speech).
- `Host` checked on every request, `/` and `/healthz` included: a page on another site that has its
  name re-pointed at 127.0.0.1 (DNS rebinding) sends its own name as Host and is refused.
- Malformed requests (scanners, half-open TLS, garbage) logged as one line, at most once per interval
  with a count, never with a traceback: a local flood cannot flood the journal.

Idle keep-alive connections and requests whose headers do not arrive are closed by aiohttp's keep-alive
timer (`http.idle_timeout_s`), which starts at connect and is only disarmed by a complete request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

log = logging.getLogger(__name__)

FD_RESERVE = 256
"""Descriptors kept for everything but HTTP connections (model files, audio, state, the chat)."""
LOG_EVERY_S = 60.0
REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def connection_cap(configured: int) -> int:
    """`configured`, cut to half of what the file-descriptor limit leaves after FD_RESERVE."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, (soft - FD_RESERVE) // 2))


class OncePerInterval:
    """Counts events and says whether to log now: the first at once, then at most one per interval
    (carrying how many were not logged)."""

    def __init__(self, interval_s: float = LOG_EVERY_S) -> None:
        self.interval_s = interval_s
        self._last = -float("inf")
        self._unlogged = 0

    def due(self) -> int | None:
        """None: stay quiet. Otherwise log now; the number is how many went unlogged before this one."""
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._unlogged += 1
            return None
        self._last, unlogged, self._unlogged = now, self._unlogged, 0
        return unlogged


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(REFUSED)
        transport.close()


class CappedProtocols:
    """The protocol factory for `loop.create_server`: aiohttp's request handler while fewer than `cap`
    connections are open, else one that answers 503 and closes."""

    def __init__(self, server: web.Server, cap: int) -> None:
        self.server = server
        self.cap = cap
        self.refused = 0
        self._say = OncePerInterval()

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self.server.connections) < self.cap:
            return self.server()
        self.refused += 1
        if (unlogged := self._say.due()) is not None:
            log.warning("HTTP: %d connections open (the cap); refusing new ones (%d more since)", self.cap, unlogged)
        return _Refused()


def host_check(bound: str, allowed: Iterable[str]) -> Middleware:
    """Middleware: the request's Host must be an IP address, `localhost`, the bound host name or one of
    `allowed` (port ignored); anything else gets 421 before any handler or the token check runs."""
    names = {"localhost", bound.lower().rstrip(".")} | {name.lower().rstrip(".") for name in allowed}

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if host_name(host) not in names and not is_ip(host_name(host)):
            shown = host[:64].encode("ascii", "backslashreplace").decode()
            return web.json_response(
                {"error": f"Host {shown!r} is not this server's (add it to http.allowed_hosts)"}, status=421
            )
        return await handler(request)

    return check


def host_name(host: str) -> str:
    """`Host` without its port and brackets, lower case: "[::1]:8765" -> "::1"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class MalformedRequests(logging.Filter):
    """On aiohttp's server logger: "Error handling request" (a request it could not parse) becomes one
    WARNING line without the traceback, at most once per LOG_EVERY_S; anything else passes unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self._say = OncePerInterval()

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Error handling request") or not record.exc_info:
            return True
        if (unlogged := self._say.due()) is None:
            return False
        err = record.exc_info[1]
        text = str(getattr(err, "message", None) or err)  # aiohttp's parse errors: "Invalid header token:\n..."
        reason = next((line.strip().rstrip(":") for line in text.splitlines() if line.strip()), "")[:120]
        record.msg = "HTTP: malformed request from %s: %s %s (%d more since the last such line)"
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.args = (remote, type(err).__name__, ascii(reason), unlogged)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def server_logger() -> logging.Logger:
    """The logger for aiohttp's request handlers: its own name, with the MalformedRequests filter."""
    logger = logging.getLogger("bot.http.server")
    if not any(isinstance(f, MalformedRequests) for f in logger.filters):
        logger.addFilter(MalformedRequests())
    return logger
