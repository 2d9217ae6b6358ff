"""The ledger under random interleavings: messages, moderator commands and withdrawals, the engine
working and the card playing, in any order, through the real daemon — its queue, its GPU worker thread
(the fake engine) and the sound-card sink on a fake stream whose clock only the test moves.

Whatever happens: received = spoken + failed + Σ dropped once all is settled, each reply's count is what
the ledger recorded for it, and nothing withdrawn before it was heard is ever heard."""

from __future__ import annotations

import asyncio
import functools
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.backoff import Backoff
from bot.events import ChatEvent, EventKind, Role, SpeechRequest
from bot.ledger import Ledger
from bot.pipeline import Daemon
from bot.playback import PlaybackEvent, Started
from bot.sinks.soundcard import SoundDeviceOutput
from bot.sinks.soundcard.output_stream import FakeStreamOpener
from bot.sinks.soundcard.sink import POLL_S, SoundCardSink
from bot.testing.fake_synthesizer import FakeSynthesizer
from tests.test_pipeline import config

Step = tuple[str, int]
STEPS = st.one_of(
    st.tuples(st.just("say"), st.integers(1, 4)),  # a message from viewer 1..4
    st.tuples(st.just("recall"), st.integers(0, 20)),  # withdraw the n-th message so far (if any)
    st.tuples(st.just("mute"), st.integers(1, 4)),
    st.tuples(st.sampled_from(["clear", "skip", "pause", "resume"]), st.just(0)),
    st.tuples(st.just("play"), st.integers(1, 40)),  # the card plays n × 10 ms
    st.tuples(st.just("wait"), st.integers(1, 5)),  # the engine gets n ms
)


@dataclass
class Script:
    """A chat source that plays the drawn steps, moves the card's clock, and checks each reply."""

    steps: list[Step]
    opener: FakeStreamOpener
    daemon: Daemon | None = None
    connected: bool = True
    said: list[ChatEvent] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)
    """msg_ids withdrawn before they were heard: they must never start."""
    heard: list[str] = field(default_factory=list)
    expected: tuple[str, int] | None = None
    disagreements: list[str] = field(default_factory=list)
    """Replies whose count is not what the ledger recorded (an assert here would only end the reader)."""

    @property
    def ledger(self) -> Ledger:
        assert self.daemon is not None
        return self.daemon.ledger

    notices: int = 0
    """The bot's own lines (the flood notice) taken in: the ledger counts them like any message."""
    notices_heard: int = 0

    def take(self, request: SpeechRequest, enqueue: Callable[[SpeechRequest], bool]) -> bool:
        self.notices += request.event.kind is EventKind.SYSTEM
        return enqueue(request)

    def listen(self, event: PlaybackEvent) -> None:
        if isinstance(event, Started):
            if event.request.event.kind is EventKind.SYSTEM:
                self.notices_heard += 1
            else:
                self.heard.append(event.request.event.msg_id)

    async def reply(self, text: str, to: ChatEvent) -> None:
        if self.expected is None:
            return
        reason, before = self.expected
        m = re.search(r"(?:cleared|;) (\d+)", text)
        if m is None or int(m.group(1)) != self.ledger.drops[reason] - before:
            self.disagreements.append(f"{text!r} while the ledger has {reason}: {before} -> {self.ledger.drops}")
        self.expected = None

    def command(self, text: str, reason: str | None, matches: set[str]) -> ChatEvent:
        """Before the reader acts on it: what the ledger says now, and what may never be heard from now."""
        if reason is not None:
            self.expected = (reason, self.ledger.drops[reason])
        self.forbidden |= matches - set(self.heard)
        return ChatEvent(text=text, uid=99, uname="mod", role=Role.MODERATOR)

    async def play(self, blocks: int, observed: bool = True) -> None:
        """The card plays `blocks` × 10 ms; `observed`: then wait until the sink has looked at the card's
        position (its tracker polls every POLL_S, and its timer falls due before ours), so what the
        card read before the next step is "heard" before that step, as it was in fact."""
        for _ in range(blocks):
            self.opener.current.advance(0.01)
            await asyncio.sleep(0.0005)
        if observed:
            await asyncio.sleep(POLL_S * 1.5)

    async def events(self) -> AsyncIterator[ChatEvent]:
        for verb, n in self.steps:
            if verb == "say":
                event = ChatEvent(text=f"第{len(self.said)}条" + "好" * n, uid=n, msg_id=f"m{len(self.said)}")
                self.said.append(event)
                yield event
            elif verb == "recall" and n < len(self.said):
                msg_id = self.said[n].msg_id
                self.forbidden |= {msg_id} - set(self.heard)
                yield ChatEvent(text="", kind=EventKind.RECALL, msg_id=msg_id)
            elif verb == "mute":
                yield self.command(f"#tts mute {n}", "muted", {e.msg_id for e in self.said if e.uid == n})
            elif verb == "clear":
                yield self.command("#tts clear", "cleared", {e.msg_id for e in self.said})
            elif verb in ("skip", "pause", "resume"):
                yield self.command(f"#tts {verb}", None, set())
            elif verb == "play":
                await self.play(n)
            elif verb == "wait":
                await asyncio.sleep(n / 1000)
        yield self.command("#tts resume", None, set())
        assert self.daemon is not None
        for _ in range(3000):  # let everything still waiting be heard to its end (or dropped)
            if self.ledger.open == 0 and self.daemon.hearing.current is None:
                break
            await self.play(5, observed=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEPS, min_size=1, max_size=40))
# Withdrawn while the engine works on it (synthesis takes 20 ms): its result must be thrown away.
@example([("say", 2), ("wait", 5), ("clear", 0), ("play", 40)])
@example([("say", 2), ("say", 3), ("wait", 5), ("mute", 2), ("play", 40)])
@example([("say", 2), ("wait", 5), ("recall", 0), ("play", 40)])
# Withdrawn while the card holds it: pending, or written ahead of the one being heard.
@example([("say", 1), ("say", 2), ("say", 3), ("wait", 5), ("wait", 5), ("wait", 5), ("play", 15), ("mute", 2)])
# The card begins one just before a mute comes (between two of the sink's looks at it): it was heard first.
# Chat outruns speech: the flood notice is the bot's own line, taken in and settled like a message.
@example([("say", 1)] * 5)
@example([("say", 1)] + [("wait", 5)] * 12 + [("play", 1), ("mute", 1), ("play", 40)])
@example([("pause", 0), ("say", 1), ("say", 2), ("wait", 5), ("wait", 5), ("clear", 0), ("resume", 0)])
def test_every_message_ends_once_replies_agree_and_nothing_withdrawn_is_heard(steps: list[Step]) -> None:
    opener = FakeStreamOpener()
    card = SoundDeviceOutput(type="sounddevice", gap_ms=0)
    sink = SoundCardSink(card, opener=opener, stall_s=None, backoff=Backoff(base_s=0.001, cap_s=0.005))
    script = Script(steps, opener)
    fake = FakeSynthesizer(voices=["zh"], delay_s=0.02, max_batch=3, fail_texts=frozenset({"第3条好"}))
    cfg = config(
        text={"rate_limit": None, "duplicate_window_s": 0},
        queue={"max_size": 6, "names_off_at": None, "paid_only_at": 5, "calm_s": 0.05},
        state_dir=tempfile.mkdtemp(prefix="ledger-"),  # every example starts with no mutes
    )
    daemon = Daemon(cfg, script, lambda: fake, sink)
    script.daemon = daemon
    daemon.playback_listeners.append(script.listen)
    daemon.enqueue = functools.partial(script.take, enqueue=daemon.enqueue)  # type: ignore[method-assign]  # counts the notices
    assert asyncio.run(daemon.run()) == 0

    ledger = daemon.ledger
    assert ledger.open == 0
    assert ledger.received == len(script.said) + script.notices
    assert ledger.received == ledger.spoken + ledger.failed + sum(ledger.drops.values())
    assert ledger.spoken == len(script.heard) + script.notices_heard
    assert len(set(script.heard)) == len(script.heard)
    assert not script.forbidden & set(script.heard), (script.forbidden, script.heard)
    assert not script.disagreements
