"""Fakes for `bot/supervisor.py`: a connection whose every attempt follows a plan (refused, slow, silent,
dropped after a while, asked to reconnect, crashing), and a virtual clock that moves only when a test
says so. Together they test backoff, silence and cancellation over minutes of simulated time in
milliseconds, with no sockets, no sound card, and no real sleeps that a loaded CI machine could stretch.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.supervisor import ConnectFailed, Ended, Heard

SETTLE_ROUNDS = 50
"""Event-loop turns given after each clock step: enough for a wake-up to run through the supervisor and
a connection (each `await` hop is one turn), counted in turns rather than seconds so load cannot starve it."""


class VirtualClock:
    """`now` and `sleep` on simulated time. `advance` wakes each sleeper at its own deadline, in order,
    letting the loop settle after each, as real time would."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), wake))
        await wake

    async def advance(self, seconds: float) -> None:
        target = self._now + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, wake = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not wake.done():
                wake.set_result(None)
                await settle()
        self._now = target
        await settle()


async def settle() -> None:
    """Let everything that can run without time passing run."""
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)


@dataclass(frozen=True)
class Plan:
    """How one attempt goes; times are seconds on the virtual clock."""

    refuse: str | None = None
    """`connect` fails with this reason (the peer asking us back, with `asked`)."""
    connect_s: float = 0.0
    """`connect` takes this long, hearing nothing."""
    speaks_every_s: float | None = 1.0
    """While up, something arrives this often; None: silent."""
    lasts_s: float | None = None
    """`run` ends this long after coming up; None: until `drop`."""
    reason: str = "the fake dropped"
    asked: bool = False
    crash: bool = False
    """`run` raises RuntimeError at once (a bug in the connection)."""


class FakeConnection:
    """One attempt, following its plan. `state` says how far it got: new, connecting, up, closed."""

    def __init__(self, plan: Plan, clock: VirtualClock, heard: Heard) -> None:
        self.plan = plan
        self.made_at = clock.now()
        self.state = "new"
        self.closes = 0
        self._clock = clock
        self._heard = heard
        self._dropped: Ended | None = None
        self._drop = asyncio.Event()

    def drop(self, reason: str = "dropped by the test", asked: bool = False) -> None:
        """End `run` now, as a peer closing the connection would."""
        self._dropped = Ended(reason, asked)
        self._drop.set()

    async def connect(self) -> None:
        self.state = "connecting"
        await self._clock.sleep(self.plan.connect_s)
        if self.plan.refuse is not None:
            raise ConnectFailed(self.plan.refuse, self.plan.asked)
        self.state = "up"

    async def run(self) -> Ended:
        plan = self.plan
        if plan.crash:
            raise RuntimeError("a bug in the connection")
        end = None if plan.lasts_s is None else self._clock.now() + plan.lasts_s
        while self._dropped is None:
            now = self._clock.now()
            if end is not None and now >= end:
                return Ended(plan.reason, plan.asked)
            naps = [t for t in (plan.speaks_every_s, None if end is None else end - now) if t is not None]
            await self._nap(min(naps) if naps else None)
            if self._dropped is None and plan.speaks_every_s is not None:
                self._heard()
        return self._dropped

    async def _nap(self, seconds: float | None) -> None:
        """Sleep on the clock, or until `drop`."""
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._drop.wait())}
        if seconds is not None:
            waits.add(asyncio.ensure_future(self._clock.sleep(seconds)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def close(self) -> None:
        self.closes += 1
        self.state = "closed"


class FakeConnections:
    """The supervisor's factory: each attempt gets the next plan, then `then` for ever."""

    def __init__(self, clock: VirtualClock, plans: Iterable[Plan] = (), then: Plan | None = None) -> None:
        self.made: list[FakeConnection] = []
        self._clock = clock
        self._plans = list(plans)
        self._then = then or Plan()

    def __call__(self, heard: Heard) -> FakeConnection:
        plan = self._plans[len(self.made)] if len(self.made) < len(self._plans) else self._then
        connection = FakeConnection(plan, self._clock, heard)
        self.made.append(connection)
        return connection

    @property
    def current(self) -> FakeConnection:
        return self.made[-1]
