"""Moderator commands: every command with each role, forged names, anonymous viewers, the audit log, and
state that a new process reads back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.commands import Verb, parse_command
from bot.config import Config, parse_config
from bot.control import Controller, InFlight
from bot.events import ChatEvent, Role, SpeechRequest, Utterance
from bot.ledger import Ledger
from bot.moderation import CommandResult, Moderator
from bot.playback import Finished, Hearing, Started
from bot.sinks.controls import ImmediateControls
from bot.state_store import StateStore
from bot.testing.voice_clips import ZH_REF
from bot.viewers import Viewers
from tests.test_speech_queue import CountedQueue


def config(**over: Any) -> Config:
    data = {
        "voices": [
            {"id": "zh", "ref_audio": ZH_REF, "ref_text": "你好"},
            {"id": "en", "ref_audio": ZH_REF, "ref_text": "hello"},
        ],
        "source": {"type": "console"},
        "output": {"type": "null"},
        "moderation": {"moderators": [900]},
        **over,
    }
    return parse_config(data, Path("/tmp/config.yaml"))


class ControlsSpy(ImmediateControls):
    """An audio output that records the controls it was given."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.heard_seq = 0
        self.unheard = 1

    def skip(self, seq: int | None = None) -> bool:
        self.calls.append(f"skip {seq}")
        return seq in (None, self.heard_seq)

    def discard(self, matches: Callable[[SpeechRequest], bool], reason: str) -> int:
        self.calls.append(f"discard {reason}")
        return self.unheard if reason == "cleared" else 0

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    async def write(self, utterance: Utterance) -> None:
        return None

    async def close(self) -> None:
        return None


class Room:
    def __init__(self, folder: Path, cfg: Config | None = None) -> None:
        self.cfg = cfg or config()
        self.store = StateStore(folder)
        self.store.prepare()
        self.queue = CountedQueue(self.cfg.queue)
        self.sink = ControlsSpy()
        self.hearing = Hearing()
        self.controller = Controller(self.queue, InFlight(), self.sink, self.hearing, Ledger())
        self.viewers = Viewers()
        self.replies: list[str] = []
        room = self

        class Replier:
            async def reply(self, text: str, to: ChatEvent) -> None:
                room.replies.append(text)

        self.mod = Moderator(
            self.cfg, self.store, self.store.load(), self.controller, self.viewers, Replier(), lambda: "all good"
        )

    def say(self, text: str, uid: int, uname: str = "", role: Role = Role.VIEWER) -> ChatEvent:
        """A chat message seen (and queued, as the filter would)."""
        event = ChatEvent(text=text, uid=uid, uname=uname or f"user{uid}", role=role)
        self.viewers.saw(event)
        self.queue.put(SpeechRequest(text=text, voice="zh", event=event, seq=len(self.queue) + 1))
        return event

    def run(self, text: str, uid: int = 1, role: Role = Role.MODERATOR, uname: str = "") -> CommandResult:
        event = ChatEvent(text=text, uid=uid, uname=uname or f"user{uid}", role=role)
        self.viewers.saw(event)
        command = parse_command(text, self.cfg.moderation.prefixes)
        assert command is not None
        return asyncio.run(self.mod.handle(event, command))

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.store.audit_path.read_text().splitlines()]


ALLOWED = [
    pytest.param(1, Role.STREAMER, id="streamer"),
    pytest.param(2, Role.MODERATOR, id="room admin"),
    pytest.param(900, Role.VIEWER, id="listed in config"),
    pytest.param(0, Role.OPERATOR, id="operator at the console"),
]
REFUSED = [
    pytest.param(3, Role.VIEWER, id="viewer"),
    pytest.param(0, Role.MODERATOR, id="anonymous admin flag"),
    pytest.param(0, Role.STREAMER, id="anonymous streamer flag"),
    pytest.param(0, Role.VIEWER, id="anonymous viewer"),
]
EVERY_COMMAND = [
    "#tts skip",
    "#tts clear",
    "#tts pause",
    "#tts resume",
    "#tts status",
    "#tts mute 42 10m",
    "#tts unmute 42",
    "#tts voice en",
    "#tts voice en 42",
]


@pytest.mark.parametrize(("uid", "role"), ALLOWED)
@pytest.mark.parametrize("text", EVERY_COMMAND)
def test_every_command_is_allowed_for_the_streamer_side(tmp_path: Path, uid: int, role: Role, text: str) -> None:
    room = Room(tmp_path)
    room.say("被静音的人", uid=42)
    room.mod.state.mutes.clear()
    if "unmute" in text:
        room.run("#tts mute 42")
    result = room.run(text, uid=uid, role=role)
    assert result.ok, result.reply
    assert room.audit()[-1]["ok"] and room.audit()[-1]["uid"] == uid
    assert room.replies[-1] == result.reply


@pytest.mark.parametrize(("uid", "role"), REFUSED)
@pytest.mark.parametrize("text", EVERY_COMMAND)
def test_every_command_is_refused_for_viewers_and_anonymous(tmp_path: Path, uid: int, role: Role, text: str) -> None:
    room = Room(tmp_path)
    room.say("还在排队", uid=42)
    result = room.run(text, uid=uid, role=role, uname="主播")  # a forged name changes nothing
    assert not result.ok and result.reply.startswith("not allowed")
    assert room.sink.calls == [] and len(room.queue) == 1 and room.mod.state.mutes == {}
    assert room.mod.state.voices == {} and room.mod.state.default_voice is None
    assert room.audit()[-1] == {**room.audit()[-1], "ok": False, "uid": uid, "command": text}
    assert room.replies == []  # no megaphone for strangers


def test_playback_controls_reach_the_sink_and_the_queue(tmp_path: Path) -> None:
    room = Room(tmp_path)
    room.say("一", uid=5)
    room.say("二", uid=6)
    assert room.run("#tts skip").reply == "skipped"
    assert room.run("#tts pause").ok and room.mod.paused
    assert room.run("#tts resume").ok and not room.mod.paused
    assert room.run("#tts clear").reply == "cleared 3 waiting message(s)"  # 2 queued + 1 in the sink
    assert len(room.queue) == 0 and room.queue.drops["cleared"] == 2
    assert room.sink.calls == ["skip None", "pause", "resume", "discard cleared"]
    assert room.run("#tts status").reply == "all good"


def test_mute_purges_cuts_and_persists_unmute_restores(tmp_path: Path) -> None:
    room = Room(tmp_path)
    room.say("刷屏一", uid=42, uname="捣乱的")
    room.say("正常", uid=43)
    room.say("刷屏二", uid=42, uname="捣乱的")
    heard = SpeechRequest(text="刷屏零", voice="zh", event=ChatEvent(text="刷屏零", uid=42), seq=77)
    room.hearing.update(Started(heard))
    room.sink.heard_seq = 77
    result = room.run("#tts mute @捣乱的 10m")
    assert result.ok and result.reply == "muted 捣乱的 for 10m; 2 dropped"
    assert [r.text for r in room.queue] == ["正常"] and room.queue.drops["muted"] == 2
    assert room.sink.calls == ["discard muted", "skip 77"]  # the queue, the output's pending, the one heard
    assert room.mod.is_muted(42) and not room.mod.is_muted(43)
    reborn = Room(tmp_path)  # a new process reads it back
    assert reborn.mod.is_muted(42)
    assert 599 < reborn.mod.state.mutes[42].until - reborn.mod.state.mutes[42].at <= 600  # type: ignore[operator]
    assert reborn.run("#tts unmute 42").reply == "unmuted 捣乱的"
    assert not Room(tmp_path).mod.is_muted(42)
    assert reborn.run("#tts unmute 42").reply == "42 was not muted"


def test_mute_targets_last_uid_names_and_refuses_to_guess(tmp_path: Path) -> None:
    room = Room(tmp_path)
    assert room.run("#tts mute last").reply == "nobody identifiable was heard yet"
    just_heard = SpeechRequest(text="x", voice="zh", event=ChatEvent(text="x", uid=55, uname="刚说完的"), seq=1)
    room.hearing.update(Started(just_heard))
    room.hearing.update(Finished(just_heard))
    assert room.run("#tts 禁言 刚才").reply.startswith("muted 刚说完的 until unmuted")
    assert room.run("#tts mute @nobody").reply == "no viewer named '@nobody' was seen recently"
    room.say("我是小红", uid=60, uname="小红")
    room.say("我才是小红", uid=61, uname="小红")  # a forged (or renamed) duplicate
    assert "ambiguous" in room.run("#tts mute @小红").reply
    assert room.run("#tts mute 61 forever").ok and 60 not in room.mod.state.mutes
    assert room.run("#tts mute 62 10y").reply.startswith("not a duration")
    assert room.run("#tts mute 62 400d").reply == "longest timed mute is for 30d"
    assert room.run("#tts mute").reply.startswith("mute whom?")
    assert room.run("#tts mute 99999999999999999999").reply.startswith("not a uid")


def test_the_owner_and_known_moderators_are_protected_before_they_are_seen_again(tmp_path: Path) -> None:
    room = Room(tmp_path)
    room.mod.owner_uid = lambda: 777  # learnt by the source at connect
    assert room.run("#tts mute 777 10m", uid=2).reply.endswith("is a moderator; not muted")
    room.viewers.saw(ChatEvent(text="hi", uid=3, role=Role.MODERATOR))
    for uid in range(10, 30_000):  # the viewer directory forgets them; the staff list does not
        room.viewers.saw(ChatEvent(text="x", uid=uid))
    assert room.viewers.get(3) is None
    assert room.run("#tts mute 3 10m", uid=2).reply.endswith("is a moderator; not muted")
    assert room.run("#tts mute 42 0.001s", uid=2).reply == "shortest mute is 10s"
    assert room.mod.state.mutes == {}


def test_moderators_and_the_streamer_cannot_be_muted(tmp_path: Path) -> None:
    room = Room(tmp_path)
    room.say("我是主播", uid=1, role=Role.STREAMER)
    room.say("我是房管", uid=2, role=Role.MODERATOR)
    assert room.run("#tts mute 1", uid=2).reply.endswith("is a moderator; not muted")
    assert room.run("#tts mute 2", uid=1).reply.endswith("is a moderator; not muted")
    assert room.run("#tts mute 900", uid=1).reply.endswith("is a moderator; not muted")
    assert room.mod.state.mutes == {}


def test_voices_default_and_per_viewer_persist(tmp_path: Path) -> None:
    room = Room(tmp_path)
    room.say("hi", uid=42, uname="Alice")
    assert room.run("#tts voice fr").reply == "no voice 'fr'; voices: zh, en"
    assert room.run("#tts voice en @alice").reply == "Alice now speaks as en"
    assert room.mod.voice_for(42) == "en" and room.mod.voice_for(43) == "zh"
    assert room.run("#tts 音色 en").reply == "default voice is now en"
    assert room.mod.voice_for(43) == "en" and room.mod.voice_for(0) == "en"
    reborn = Room(tmp_path)
    assert reborn.mod.voice_for(42) == "en" and reborn.mod.default_voice == "en"
    assert reborn.run("#tts voice reset 42").reply == "42 has the default voice again"  # a new run: name unseen
    assert reborn.run("#tts voice").reply.startswith("voice <id>")


def test_a_voice_removed_from_the_config_falls_back_to_the_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    room = Room(tmp_path)
    room.run("#tts voice en 42")
    room.run("#tts voice en")
    only_zh = config(voices=[{"id": "zh", "ref_audio": ZH_REF, "ref_text": "你好"}])
    reborn = Room(tmp_path, only_zh)
    assert reborn.mod.voice_for(42) == "zh" and reborn.mod.default_voice == "zh"
    assert "no longer configured" in caplog.text


def test_bad_and_unknown_commands_are_answered_and_audited(tmp_path: Path) -> None:
    room = Room(tmp_path)
    result = room.run("#tts dance")
    assert not result.ok and result.reply == "unknown command 'dance'"
    assert room.audit()[-1]["verb"] == "?"
    assert {Verb(v) for v in Verb} == set(Verb)


def test_a_full_disk_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    room = Room(tmp_path)

    def full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bot.state_store.write_atomic", full)
    result = room.run("#tts mute 42")
    assert not result.ok and result.reply == "done, but not saved (No space left on device)"
    assert room.mod.is_muted(42)  # in effect for this run


def test_events_kept_in_the_viewer_directory_are_bounded() -> None:
    viewers = Viewers(max_viewers=100)
    for uid in range(1, 1000):
        viewers.saw(ChatEvent(text="x", uid=uid, uname=f"n{uid}"))
    assert viewers.get(1) is None and viewers.get(999) is not None
    assert isinstance(viewers.by_name("@N999"), type(viewers.get(999)))
    assert np.isscalar(len(viewers._by_name)) and len(viewers._by_name) == 100
