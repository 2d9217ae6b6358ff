"""The connection supervisor on fake connections and a virtual clock: backoff with full jitter and its
reset, the silence watch (while connecting and while up), a peer's request to reconnect, a crashing
connection, rate-limited failure lines, a clean cancel in every phase, and the counted hand-off."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bot.backoff import Backoff
from bot.supervisor import ASKED_AGAIN_AFTER_S, REASONS_KEPT, Handoff, Supervisor, Wording
from bot.testing.fake_connection import FakeConnections, Plan, VirtualClock, settle

log = logging.getLogger("bot.test_supervisor")
WORDING = Wording(lost="lost ({reason}); again in {delay:.1f} s", failed="failed #{attempt} ({reason})")


def make(
    links: FakeConnections,
    clock: VirtualClock,
    silent_after_s: float | None = 5.0,
    wording: Wording = WORDING,
    watch_connect: bool = True,
    backoff: Backoff | None = None,
) -> Supervisor:
    backoff = backoff or backoff_on(clock)
    return Supervisor("fake", links, backoff, wording, log, silent_after_s, watch_connect, clock)


def backoff_on(clock: VirtualClock) -> Backoff:
    return Backoff(base_s=1.0, cap_s=8.0, stable_s=30.0, rng=random.Random(7), clock=clock.now)


@asynccontextmanager
async def supervising(sup: Supervisor) -> AsyncIterator[asyncio.Task[None]]:
    task: asyncio.Task[None] = asyncio.create_task(sup.run())
    await settle()
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_failures_back_off_with_full_jitter_and_a_stable_link_resets_it() -> None:
    clock = VirtualClock()
    links = FakeConnections(clock, [Plan(refuse="no route")] * 6 + [Plan(lasts_s=40.0)], then=Plan(refuse="again"))
    backoff = backoff_on(clock)
    sup = make(links, clock, backoff=backoff)
    async with supervising(sup):
        while not sup.connected:
            await clock.advance(0.05)
        made_at = [link.made_at for link in links.made]
        gaps = [b - a for a, b in itertools.pairwise(made_at)]
        bounds = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # base 1 s doubling, capped at 8 s
        assert all(0 <= gap <= bound + 0.05 for gap, bound in zip(gaps, bounds, strict=True)), gaps
        assert len({round(g, 2) for g in gaps}) > 1  # jittered, not a fixed ladder
        assert sup.connected and sup.stats.connects == 1 and sup.stats.failures == 6
        while sup.stats.losses == 0:
            await clock.advance(0.05)
        assert sup.stats.reasons[-1] == "the fake dropped"
        assert backoff.attempt == 1  # up for 40 s (past stable_s): the wait after it was drawn from the base


async def test_a_silent_link_is_dropped_at_the_bound_and_a_talking_one_is_kept() -> None:
    clock = VirtualClock()
    links = FakeConnections(clock, [Plan(speaks_every_s=None), Plan(speaks_every_s=1.0)])
    sup = make(links, clock, silent_after_s=5.0)
    async with supervising(sup):
        await clock.advance(4.9)
        assert sup.connected and links.made[0].state == "up"
        await clock.advance(0.2)
        assert links.made[0].state == "closed" and links.made[0].closes == 1
        assert list(sup.stats.reasons) == ["nothing received for 5 s"] and sup.stats.losses == 1
        await clock.advance(2.0)  # the backoff (at most 1 s), then the talkative one
        assert len(links.made) == 2 and sup.connected
        await clock.advance(600.0)
        assert len(links.made) == 2 and sup.connected and links.made[1].state == "up"


async def test_silence_while_connecting_is_watched_unless_the_link_cannot_speak_before_it_is_up() -> None:
    clock = VirtualClock()
    links = FakeConnections(clock, [Plan(connect_s=60.0)], then=Plan(connect_s=0.0))
    sup = make(links, clock, silent_after_s=5.0)
    async with supervising(sup):
        await clock.advance(5.1)
        assert links.made[0].state == "closed" and sup.stats.failures == 1
        assert sup.stats.reasons[0] == "nothing received for 5 s"

    clock = VirtualClock()
    links = FakeConnections(clock, [Plan(connect_s=60.0)])
    sup = make(links, clock, silent_after_s=5.0, watch_connect=False)
    async with supervising(sup):
        await clock.advance(59.0)
        assert links.made[0].state == "connecting"
        await clock.advance(1.5)
        assert sup.connected and len(links.made) == 1  # its silence is counted from when it came up


async def test_a_peer_asking_to_reconnect_is_followed_within_a_second_without_backing_off() -> None:
    clock = VirtualClock()
    links = FakeConnections(clock, [Plan(refuse="down")] * 3)
    backoff = backoff_on(clock)
    sup = make(links, clock, backoff=backoff)
    async with supervising(sup):
        while not sup.connected:
            await clock.advance(0.05)
        for _ in range(5):
            await clock.advance(ASKED_AGAIN_AFTER_S)  # each link up a while, as maintenance comes
            count = len(links.made)
            links.current.drop("maintenance", asked=True)
            await settle()
            asked_at = clock.now()
            while len(links.made) == count or not sup.connected:
                await clock.advance(0.05)
            assert clock.now() - asked_at <= 1.0 + 0.05
        assert backoff.attempt == 3  # the three failures; the asked reconnects added nothing


async def test_a_peer_asking_again_at_once_gets_the_backoff() -> None:
    """A peer that sends us away right after every connect is not redialled within a second forever."""
    clock = VirtualClock()
    links = FakeConnections(clock, [])
    backoff = backoff_on(clock)
    sup = make(links, clock, backoff=backoff)
    async with supervising(sup):
        for _ in range(4):
            while not sup.connected:
                await clock.advance(0.05)
            count = len(links.made)
            links.current.drop("go away", asked=True)
            await settle()
            while len(links.made) == count:
                await clock.advance(0.05)
        assert backoff.attempt == 3  # the first request honoured at once, each one after it backed off


async def test_a_peer_asking_to_reconnect_before_the_link_is_up_is_followed_at_once_and_no_failure() -> None:
    """Twitch may send RECONNECT between our login and its welcome: maintenance, not a refusal."""
    clock = VirtualClock()
    links = FakeConnections(clock, [Plan(refuse="maintenance", asked=True)])
    backoff = backoff_on(clock)
    sup = make(links, clock, backoff=backoff)
    async with supervising(sup):
        await clock.advance(1.0 + 0.05)
        assert len(links.made) == 2 and sup.connected
    assert list(sup.stats.reasons) == ["maintenance"]
    assert sup.stats.failures == 0 and backoff.attempt == 0


async def test_a_peer_asking_again_before_every_link_is_up_gets_the_backoff_but_no_failures() -> None:
    clock = VirtualClock()
    links = FakeConnections(clock, [Plan(refuse="go away", asked=True)] * 4)
    backoff = backoff_on(clock)
    sup = make(links, clock, backoff=backoff)
    async with supervising(sup):
        while not sup.connected:
            await clock.advance(0.05)
    assert len(links.made) == 5 and sup.stats.failures == 0
    assert backoff.attempt == 3  # the first request honoured at once, each one right after it backed off


async def test_a_crashing_connection_is_logged_once_closed_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock()
    links = FakeConnections(clock, [Plan(crash=True)])
    sup = make(links, clock)
    with caplog.at_level(logging.INFO, logger=log.name):
        async with supervising(sup):
            await clock.advance(2.0)
            assert len(links.made) == 2 and sup.connected
    assert links.made[0].closes == 1 and sup.stats.reasons[0] == "unexpected error: RuntimeError"
    crashes = [r for r in caplog.records if r.exc_info]
    assert len(crashes) == 1 and crashes[0].getMessage() == "fake: unexpected error; reconnecting"


async def test_one_line_per_loss_and_repeated_failures_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock()
    wording = Wording(lost="lost ({reason})", failed="failed #{attempt} ({reason})", failed_every=20)
    links = FakeConnections(clock, [Plan(lasts_s=1.0)] + [Plan(refuse="unplugged")] * 45)
    sup = make(links, clock, wording=wording)
    with caplog.at_level(logging.INFO, logger=log.name):
        async with supervising(sup):
            while sup.stats.failures < 45:
                await clock.advance(1.0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "lost (the fake dropped)",
        "failed #1 (unplugged)",
        "failed #20 (unplugged)",
        "failed #40 (unplugged)",
    ]


@pytest.mark.parametrize("phase", ["connecting", "up", "backing off"])
async def test_cancel_closes_what_it_holds_in_every_phase(phase: str) -> None:
    clock = VirtualClock()
    plans = {"connecting": Plan(connect_s=3.0), "up": Plan(), "backing off": Plan(refuse="no")}
    links = FakeConnections(clock, [plans[phase]])
    sup = make(links, clock)
    async with supervising(sup):
        await clock.advance(0.01)
        expected = {"connecting": "connecting", "up": "up", "backing off": "closed"}[phase]
        assert links.current.state == expected
    assert not sup.connected
    assert [c.closes for c in links.made] == [1]  # closed exactly once, nothing left open


async def test_reasons_kept_are_bounded() -> None:
    clock = VirtualClock()
    links = FakeConnections(clock, then=Plan(lasts_s=0.5))
    sup = make(links, clock)
    async with supervising(sup):
        while sup.stats.losses < REASONS_KEPT + 20:
            await clock.advance(1.0)
    assert len(sup.stats.reasons) == REASONS_KEPT


async def test_the_handoff_never_waits_and_counts_each_overflow_once() -> None:
    drops: Counter[str] = Counter()
    handoff: Handoff[int] = Handoff(3, drops)
    for i in range(10):
        handoff.put(i)
    assert drops == Counter({"source_overflow": 7})
    assert [await handoff.get() for _ in range(3)] == [0, 1, 2]
    handoff.put(10)
    assert await handoff.get() == 10 and drops["source_overflow"] == 7
