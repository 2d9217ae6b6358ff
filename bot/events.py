"""Typed values that flow between the pipeline's stages.

chat source --ChatEvent--> filter --SpeechRequest--> queue --> GPU worker --Utterance--> audio sink
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

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
    """Message `msg_id` was withdrawn: drop it if not yet spoken (not speech)."""


class Role(str, Enum):
    VIEWER = "viewer"
    MODERATOR = "moderator"
    STREAMER = "streamer"


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
    reply_to: str = ""
    received_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class SpeechRequest:
    """A message that passed the filters: cleaned text, the voice to use and where it came from."""

    text: str
    voice: str
    event: ChatEvent
    seq: int = 0


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
