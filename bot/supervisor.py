"""One reconnect policy for everything that connects: the chat sources and the sound card.

A bot that runs for weeks loses its links all the time — a chat server restarts, Wi-Fi drops, a USB
headset is unplugged — and every link must come back the same way: after a backoff with full jitter
(`bot/backoff.py`), reset only once a link stayed up; abandoned when nothing arrived for a while (a
half-open TCP connection, a card whose callback stopped, says nothing); with one log line per loss; and
released on the way out. Written once here (as aioesphomeapi's `ReconnectLogic` does for its devices),
each platform only says how to connect, serve and close one link.

A `Connection` is one attempt: `connect()` makes the link (raising `ConnectFailed` with the reason when it
cannot), `run()` serves it until it drops and says why, `close()` releases whatever `connect` got, also
after a failure. The supervisor makes a fresh one per attempt through a factory, handing it the `heard`
callback to call whenever anything arrives (a chat line, a heartbeat reply, an audio callback): that is
what the silence watch measures.

`Handoff` is the bounded queue between a link's reader and the pipeline: the reader never waits on the
rest of the bot, and what does not fit is dropped and counted once, under the reason the metrics show.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, NoReturn, Protocol, TypeVar

from bot.backoff import Backoff

T = TypeVar("T")

REASONS_KEPT = 100
"""How many recent reasons a link remembers (for tests and debugging; weeks of reconnects stay bounded)."""
ASKED_AGAIN_AFTER_S = 10.0
"""A peer that asks us back again is followed at once only if the link it ends lasted this long."""


class ConnectFailed(Exception):
    """Raised by `Connection.connect` when the link cannot be made; its message is the reason logged.
    `asked`: the peer asked us to come back before the link was up (Twitch sends RECONNECT for
    maintenance at any moment, also between our login and its welcome): no failure, followed as soon as
    a request on an established link is."""

    def __init__(self, reason: str, asked: bool = False) -> None:
        super().__init__(reason)
        self.asked = asked


@dataclass(frozen=True)
class Ended:
    """Why a link that was up ended."""

    reason: str
    asked: bool = False
    """The peer asked us to come back (server maintenance, not trouble): reconnect within a second,
    without backing off."""


class Connection(Protocol):
    """One attempt at a link, made by the supervisor's factory."""

    async def connect(self) -> None:
        """Make the link; return once it is usable, or raise `ConnectFailed` saying why not."""
        ...

    async def run(self) -> Ended:
        """Serve the link until it drops; calls the `heard` callback it was made with whenever anything
        arrives."""
        ...

    async def close(self) -> None:
        """Release what `connect` got, however far it came (bounded; never raises)."""
        ...


Heard = Callable[[], None]
ConnectionFactory = Callable[[Heard], Connection]


class Clock(Protocol):
    """Time as the supervisor sees it: injected so its tests run on virtual time (`VirtualClock`)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Wording:
    """What the log says about one link, in its platform's words. `{reason}`, `{delay}` (seconds until
    the next attempt) and `{attempt}` (failed attempts in a row) are filled in."""

    lost: str
    """A link that was up ended."""
    failed: str
    """An attempt never came up."""
    silence: str = "nothing received for {seconds:g} s"
    """The reason given when the silence watch ends a link (`{seconds}`: its bound)."""
    failed_level: int = logging.WARNING
    failed_every: int = 1
    """Failed attempts in a row are logged at the first and then every this many (a sound card that is
    away for an hour must not fill the journal)."""


@dataclass
class LinkStats:
    connected: bool = False
    connects: int = 0
    """Attempts that came up."""
    failures: int = 0
    """Attempts that never came up."""
    losses: int = 0
    """Links that came up and then ended."""
    reasons: deque[str] = field(default_factory=lambda: deque(maxlen=REASONS_KEPT))
    """Why each recent attempt ended, oldest first."""


class _Silent(Exception):
    """Nothing arrived within the silence bound."""


class Supervisor:
    """Keeps one link up for ever: connect, serve, and after any end (failure, drop, silence, a bug in
    the connection) close it, log once, back off and try again. Cancel `run` to stop: the link in hand is
    closed first.

    `silent_after_s` (None: no watch) bounds the time without `heard`, counted from the start of each
    attempt and again from the moment it came up; `watch_connect=False` leaves `connect` unwatched, for a
    link on which nothing can arrive before it is up (opening a sound card scans devices, and a slow scan
    is not silence)."""

    def __init__(
        self,
        name: str,
        factory: ConnectionFactory,
        backoff: Backoff,
        wording: Wording,
        log: logging.Logger,
        silent_after_s: float | None = None,
        watch_connect: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.stats = LinkStats()
        self._factory = factory
        self._backoff = backoff
        self._wording = wording
        self._log = log
        self._silent_after_s = silent_after_s
        self._watch_connect = watch_connect
        self._clock = clock or MonotonicClock()
        self._heard_at = self._clock.now()

    @property
    def connected(self) -> bool:
        return self.stats.connected

    def heard(self) -> None:
        """Something arrived on the link: the silence watch starts over."""
        self._heard_at = self._clock.now()

    async def run(self) -> NoReturn:
        failed_in_row = 0
        asked_before = False
        while True:
            began = self._clock.now()
            ended, was_up = await self._attempt()
            self.stats.reasons.append(ended.reason)
            # A peer's request to come back is honoured at once; asked again at once, it gets the backoff
            # like any other end (one that asks on every connection would otherwise be redialled forever).
            at_once = ended.asked and (not asked_before or self._clock.now() - began >= ASKED_AGAIN_AFTER_S)
            delay = self._backoff.soon() if at_once else self._backoff.next_delay()
            asked_before = ended.asked
            if was_up:
                self.stats.losses += 1
            if was_up or ended.asked:  # asked back before the link was up: no failure either
                failed_in_row = 0
                self._log.warning("%s", self._wording.lost.format(reason=ended.reason, delay=delay))
            else:
                self.stats.failures += 1
                failed_in_row += 1
                if failed_in_row == 1 or failed_in_row % self._wording.failed_every == 0:
                    line = self._wording.failed.format(reason=ended.reason, delay=delay, attempt=failed_in_row)
                    self._log.log(self._wording.failed_level, "%s", line)
            await self._clock.sleep(delay)

    async def _attempt(self) -> tuple[Ended, bool]:
        """One connection from start to end: why it ended, and whether it had come up."""
        self.heard()
        connection: Connection | None = None
        up = False
        try:
            connection = self._factory(self.heard)
            await (self._watched(connection.connect()) if self._watch_connect else connection.connect())
            self.heard()
            up = self.stats.connected = True
            self.stats.connects += 1
            self._backoff.connected()
            return await self._watched(connection.run()), True
        except ConnectFailed as err:
            return Ended(str(err), err.asked), up
        except _Silent:
            return Ended(self._wording.silence.format(seconds=self._silent_after_s)), up
        except Exception as err:  # a bug in one connection must not end the link for good
            self._log.exception("%s: unexpected error; reconnecting", self.name)
            return Ended(f"unexpected error: {type(err).__name__}"), up
        finally:
            self.stats.connected = False
            if connection is not None:
                await self._close(connection)

    async def _close(self, connection: Connection) -> None:
        try:
            await connection.close()
        except Exception:
            self._log.exception("%s: closing the connection failed", self.name)

    async def _watched(self, step: Awaitable[T]) -> T:
        """`step`'s result, unless nothing is heard for `silent_after_s` first (then `step` is cancelled
        and `_Silent` raised)."""
        task = asyncio.ensure_future(step)
        try:
            while True:
                if self._silent_after_s is None:
                    await asyncio.wait({task})
                else:
                    left = self._heard_at + self._silent_after_s - self._clock.now()
                    if left <= 0:
                        raise _Silent
                    timer = asyncio.ensure_future(self._clock.sleep(left))
                    try:
                        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        timer.cancel()
                if task.done():
                    if task.cancelled():  # by the connection itself: we were not
                        raise ConnectFailed("cancelled")
                    return task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})


def chat_supervisor(
    name: str,
    what: str,
    factory: ConnectionFactory,
    log: logging.Logger,
    backoff: Backoff | None,
    backoff_cap_s: float,
    silent_after_s: float,
) -> Supervisor:
    """A chat server's link: backoff from 1 s up to the streamer's cap, reset after a minute up; every end
    logged as `NAME: connection to WHAT ended (REASON); reconnecting in N s`."""
    ended = f"{name}: connection to {what} ended ({{reason}}); reconnecting in {{delay:.1f}} s"
    return Supervisor(
        name,
        factory,
        backoff or Backoff(base_s=1.0, cap_s=backoff_cap_s, stable_s=60.0),
        Wording(lost=ended, failed=ended),
        log,
        silent_after_s=silent_after_s,
    )


class SupervisedChat:
    """What a chat source kept by a supervisor shows of its link: connected now (READY=1, /healthz), how
    often it connected (the reconnects metric), and why recent connections ended."""

    _supervisor: Supervisor

    @property
    def connected(self) -> bool:
        return self._supervisor.connected

    @property
    def connects(self) -> int:
        return self._supervisor.stats.connects

    @property
    def reconnect_reasons(self) -> list[str]:
        return list(self._supervisor.stats.reasons)


class Handoff(Generic[T]):
    """A bounded queue from a link's reader to the pipeline. `put` never waits (the reader serves the
    connection's heartbeats and must not stall behind a slow consumer): what does not fit is dropped and
    counted once in `drops` under `reason`."""

    def __init__(self, size: int, drops: Counter[str], reason: str = "source_overflow") -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=size)
        self._drops = drops
        self._reason = reason

    def put(self, item: T) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._drops[self._reason] += 1

    async def get(self) -> T:
        return await self._queue.get()
