"""Typed values that flow between the pipeline's stages.

chat source --ChatEvent--> filter --SpeechRequest--> queue --> GPU worker --Utterance--> audio sink
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import Enum, IntEnum

import numpy as np
import numpy.typing as npt

from bot.sanitize import MAX_EVENT_TEXT_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS, bounded_float, bounded_int, one_line

SAMPLE_RATE = 24_000
"""F5-TTS and Vocos work at 24 kHz; every PCM buffer in the bot is float32 mono at this rate."""

Pcm = npt.NDArray[np.float32]


class EventKind(str, Enum):
    DANMAKU = "danmaku"
    SUPER_CHAT = "super_chat"
    GIFT = "gift"
    GUARD = "guard"
    SYSTEM = "system"
    BAN = "ban"
    """The room banned `uid`: mute them and purge what they have queued (not speech)."""
    RECALL = "recall"
    """Message `msg_id` was withdrawn, or with no `msg_id` all of viewer `uid`'s chat: drop it if not yet
    spoken (not speech)."""
    CLEAR = "clear"
    """The room's whole chat was cleared: drop viewers' chat not yet spoken, keep paid messages (not speech)."""


CONTROL_KINDS = frozenset({EventKind.BAN, EventKind.RECALL, EventKind.CLEAR})
"""What the platform did to the chat rather than said in it: acted on, never spoken."""


PAID_KINDS = frozenset({EventKind.SUPER_CHAT, EventKind.GIFT, EventKind.GUARD})
"""Events a viewer paid for: read even when the queue sheds the rest, never rate-limited."""


class Role(str, Enum):
    VIEWER = "viewer"
    MODERATOR = "moderator"
    """A room admin (Bilibili) or channel moderator (Twitch)."""
    STREAMER = "streamer"
    """The room's owner."""
    OPERATOR = "operator"
    """The person at the machine (console, local HTTP API): trusted, though it has no platform uid."""


class Priority(IntEnum):
    """Speaking order, most urgent first. A lower value is spoken first and evicted last."""

    URGENT = 0
    """The streamer's, moderators' and operator's own messages, and super chats."""
    GUARD = 1
    """Messages from guard members (舰长/提督/总督) and their guard purchases."""
    GIFT = 2
    """Thanks for gifts."""
    MEDAL = 3
    """Holders of this room's fan medal."""
    VIEWER = 4


@dataclass(frozen=True)
class ChatEvent:
    """One thing that happened in the chat, normalised across platforms.

    Building one is the boundary every source passes (`bot/sanitize.py`): whatever a mapper hands in,
    the strings come out valid Unicode on one line and bounded, the numbers in range, so no later stage
    (filter, commands, logs, audit, state, status page) can meet a lone surrogate, a newline or 1e400."""

    text: str
    uid: int = 0
    uname: str = ""
    kind: EventKind = EventKind.DANMAKU
    msg_id: str = ""
    guard_level: int = 0
    price: float = 0.0
    role: Role = Role.VIEWER
    medal_level: int = 0
    medal_name: str = ""
    medal_room: int = 0
    home_medal: bool = False
    """The fan medal belongs to this room's streamer (not another streamer's medal worn here)."""
    reply_to: str = ""
    mute_s: float | None = None
    """For BAN: how long the platform silenced them (a Twitch timeout); None = until lifted."""
    received_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        fix = object.__setattr__
        fix(self, "text", one_line(self.text, MAX_EVENT_TEXT_CHARS))
        fix(self, "uname", one_line(self.uname, MAX_NAME_CHARS))
        for key in ("msg_id", "medal_name", "reply_to"):
            fix(self, key, one_line(getattr(self, key), MAX_ID_CHARS))
        for key in ("uid", "medal_room"):
            fix(self, key, bounded_int(getattr(self, key)))
        fix(self, "guard_level", bounded_int(self.guard_level, hi=9))
        fix(self, "medal_level", bounded_int(self.medal_level, hi=10_000))
        fix(self, "price", bounded_float(self.price))
        fix(self, "home_medal", self.home_medal is True)
        if self.mute_s is not None:
            seconds = bounded_float(self.mute_s)
            fix(self, "mute_s", seconds or None)  # not a usable duration: a ban until lifted


@dataclass(frozen=True)
class SpeechRequest:
    """A message that passed the filters: cleaned text, the voice to use and where it came from."""

    text: str
    voice: str
    event: ChatEvent
    seq: int = 0
    priority: Priority = Priority.VIEWER
    nameless_text: str = ""
    """What to say instead when the queue is too deep to read names ("" = `text` has no name in it)."""

    @property
    def protected(self) -> bool:
        """A super chat: paid to be read, so never evicted to make room."""
        return self.event.kind == EventKind.SUPER_CHAT

    @property
    def paid(self) -> bool:
        """Spoken even when the queue sheds everything else: super chats, gifts' and guards' thanks."""
        return self.event.kind in PAID_KINDS


@dataclass(frozen=True)
class Head:
    """The first part of a long request's audio, synthesised before the rest so it can be heard while
    the rest is synthesised; the rest joins it without a gap (its cross-fade is already in the rest)."""

    pcm: Pcm


@dataclass(frozen=True)
class Rest:
    """The rest of a streamed long message (`Utterance.rest`), with its share of the worker's time making
    it: a message's throughput is both parts' audio over both parts' work."""

    pcm: Pcm
    synth_seconds: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.pcm) / SAMPLE_RATE


@dataclass(frozen=True)
class Utterance:
    """Synthesised audio for one request, ready for an audio sink."""

    request: SpeechRequest
    pcm: Pcm
    sample_rate: int = SAMPLE_RATE
    synth_seconds: float = 0.0
    rest: asyncio.Future[Rest] | None = None
    """A streamed long message: the audio that follows `pcm` without a gap, still being synthesised. The
    output plays `pcm` meanwhile and appends the rest when it comes; an output that drops or cuts the
    utterance cancels it (a rest not yet begun is then never synthesised). It may fail or be cancelled:
    the utterance then ends after `pcm`."""

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate
