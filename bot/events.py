"""Typed values that flow between the pipeline's stages.

chat source --ChatEvent--> filter --SpeechRequest--> queue --> GPU worker --Utterance--> audio sink
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum, IntEnum

import numpy as np
import numpy.typing as npt

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
    """One thing that happened in the chat, normalised across platforms."""

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
class Utterance:
    """Synthesised audio for one request, ready for an audio sink."""

    request: SpeechRequest
    pcm: Pcm
    sample_rate: int = SAMPLE_RATE
    synth_seconds: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate
