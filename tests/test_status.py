"""The status a streamer reads adds up: whatever mix of chat, junk the source could not use, bugs met on
an event, engine failures, moderator commands and playback goes through the real daemon (its queue, GPU
worker thread with the fake engine, and the null output: at once, in real time on a card whose clock
only the test moves, or into WAV files), at every moment /api/status can be read

    received = spoken + failed + Σ drops + queued (taken in, not heard yet)

and what never became a message (the source's skips, `internal_error`) is reported apart, not as drops."""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.backoff import Backoff
from bot.events import ChatEvent, EventKind, Role, SpeechRequest
from bot.pipeline import Daemon
from bot.protocols import AudioSink
from bot.sinks.null.sink import NullSink
from bot.sinks.soundcard import SoundDeviceOutput
from bot.sinks.soundcard.output_stream import FakeStreamOpener
from bot.sinks.soundcard.sink import POLL_S, SoundCardSink
from bot.sinks.wav.sink import WavSink
from bot.testing.fake_synthesizer import FakeSynthesizer
from tests.test_pipeline import config

BUGGY_UID = 13
"""Handling an event from this viewer raises (a bug): the reader skips it as `internal_error`."""
FAILS = "坏"
"""The engine fails on the batch holding this text."""

Step = tuple[str, int]
STEPS = st.one_of(
    st.tuples(st.just("say"), st.integers(1, 8)),  # a message of 3 + n characters (over 8 are streamed)
    st.tuples(st.sampled_from(["unspeakable", "fail", "bug", "clear", "skip"]), st.just(0)),
    st.tuples(st.just("junk"), st.integers(1, 3)),  # the source could not use n events
    st.tuples(st.just("mute"), st.integers(1, 4)),
    st.tuples(st.just("play"), st.integers(1, 40)),  # the card plays n × 10 ms
    st.tuples(st.just("wait"), st.integers(1, 5)),  # the engine gets n ms
)


def unbalanced(status: dict[str, Any]) -> str | None:
    """What is wrong with the page's numbers, if they do not add up."""
    accounted = status["spoken"] + status["failed"] + sum(status["drops"].values()) + status["queued"]
    if status["received"] == accounted:
        return None
    keys = ("received", "spoken", "failed", "drops", "queued", "skipped")
    return f"received {status['received']} != {accounted}: " + str({k: status.get(k) for k in keys})


@dataclass
class Script:
    """A live chat source playing the drawn steps; meanwhile a watcher reads the status at every turn of
    the event loop, as the status page could."""

    steps: list[Step]
    opener: FakeStreamOpener | None
    daemon: Daemon | None = None
    connected: bool = True
    connects: int = 1
    drops: Counter[str] = field(default_factory=Counter)
    junk: int = 0
    notices: int = 0
    """The bot's own lines (the flood notice) taken in: received like any message."""
    problems: list[str] = field(default_factory=list)
    """Readings that did not add up (an assert here would only end the reader)."""

    def take(self, request: SpeechRequest, enqueue: Callable[[SpeechRequest], bool]) -> bool:
        self.notices += request.event.kind is EventKind.SYSTEM
        return enqueue(request)

    def check(self) -> None:
        assert self.daemon is not None
        if (problem := unbalanced(self.daemon.snapshot().as_json())) is not None and len(self.problems) < 5:
            self.problems.append(problem)

    async def watch(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(0)

    async def play(self, blocks: int) -> None:
        for _ in range(blocks):
            if self.opener is not None:
                self.opener.current.advance(0.01)
            await asyncio.sleep(0.0005)
        await asyncio.sleep(POLL_S * 1.5)  # the sink has looked at the card's position since

    async def events(self) -> AsyncIterator[ChatEvent]:
        assert self.daemon is not None
        watcher = asyncio.create_task(self.watch())
        try:
            for n, (verb, arg) in enumerate(self.steps):
                if verb == "say":
                    yield ChatEvent(text=f"第{n}条" + "好" * arg, uid=arg % 4 + 1)
                elif verb == "unspeakable":
                    yield ChatEvent(text="🦄", uid=5)
                elif verb == "fail":
                    yield ChatEvent(text=FAILS, uid=6)
                elif verb == "bug":
                    yield ChatEvent(text=f"第{n}条", uid=BUGGY_UID)
                elif verb == "junk":
                    self.drops["malformed"] += arg
                    self.junk += arg
                elif verb in ("clear", "skip"):
                    yield ChatEvent(text=f"#tts {verb}", uid=99, role=Role.MODERATOR)
                elif verb == "mute":
                    yield ChatEvent(text=f"#tts mute {arg}", uid=99, role=Role.MODERATOR)
                elif verb == "play":
                    await self.play(arg)
                elif verb == "wait":
                    await asyncio.sleep(arg / 1000)
                self.check()
            for _ in range(3000):  # let everything still waiting be heard to its end (or dropped)
                if self.daemon.ledger.open == 0 and self.daemon.hearing.current is None:
                    break
                await self.play(5)
        finally:
            watcher.cancel()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEPS, min_size=1, max_size=30), st.sampled_from(["null", "card", "wav"]))
# Before: the source's skips and a bug's were shown as drops of messages that were never received.
@example([("junk", 2), ("say", 1), ("bug", 0), ("play", 40)], "card")
@example([("say", 8), ("fail", 0), ("unspeakable", 0), ("wait", 5), ("clear", 0), ("play", 40)], "card")
@example([("say", 2), ("say", 8), ("say", 3), ("wait", 5), ("mute", 3), ("bug", 0), ("junk", 1)], "null")
# Before: a message being written to its file was neither waiting nor heard.
@example([("say", 1), ("wait", 5), ("say", 8), ("wait", 5)], "wav")
def test_received_is_spoken_failed_dropped_or_waiting_at_every_moment(steps: list[Step], output: str) -> None:
    state = tempfile.mkdtemp(prefix="status-")  # every example starts with no mutes
    opener = FakeStreamOpener() if output == "card" else None
    sink: AudioSink = NullSink() if output == "null" else WavSink(os.path.join(state, "out"), gap_ms=0)
    if opener is not None:
        card = SoundDeviceOutput(type="sounddevice", gap_ms=0)
        sink = SoundCardSink(card, opener=opener, stall_s=None, backoff=Backoff(base_s=0.001, cap_s=0.005))
    script = Script(steps, opener)
    fake = FakeSynthesizer(
        voices=["zh"], delay_s=0.01, seconds_per_char=0.02, max_batch=3, fail_texts=frozenset({FAILS}), stream_over=8
    )
    cfg = config(
        text={"rate_limit": None, "duplicate_window_s": 0},
        queue={"max_size": 6, "names_off_at": None, "paid_only_at": 5, "calm_s": 0.05},
        state_dir=state,
    )
    daemon = Daemon(cfg, script, lambda: fake, sink)
    script.daemon = daemon
    seen = daemon.viewers.saw

    def saw(event: ChatEvent) -> None:
        if event.uid == BUGGY_UID:
            raise RuntimeError("a bug met on this event")
        seen(event)

    daemon.viewers.saw = saw  # type: ignore[method-assign]
    daemon.enqueue = functools.partial(script.take, enqueue=daemon.enqueue)  # type: ignore[method-assign]
    assert asyncio.run(daemon.run()) == 0

    assert not script.problems, script.problems
    status = daemon.snapshot().as_json()
    assert unbalanced(status) is None and status["queued"] == 0
    bugs = sum(verb == "bug" for verb, _ in steps)
    assert status["skipped"] == {
        **({"malformed": script.junk} if script.junk else {}),
        **({"internal_error": bugs} if bugs else {}),
    }
    said = sum(verb in ("say", "unspeakable", "fail") for verb, _ in steps)
    assert status["received"] == said + script.notices  # chat that reached the filters, and the bot's lines
