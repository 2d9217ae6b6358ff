"""Controls end to end, through the real daemon: a replay of chat (with the moderators' commands in it),
the fake engine, and the null output in real time (a sound card nobody hears, which holds and plays
utterances like a real one). What was heard is what the output reported; the ledger must balance and
every reply must say what the counters say."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bot.config import Config, parse_config
from bot.pipeline import Daemon
from bot.playback import Finished, PlaybackEvent, Started, Unplayed
from bot.sinks import make_sink
from bot.sources import make_source
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.testing.voice_clips import ZH_REF

SECOND = "一二三四五六七八九十"
"""Ten characters: one second of the fake engine's speech."""


def replay_config(tmp_path: Path, lines: list[dict[str, Any]]) -> Config:
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    data = {
        "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": "你好"}],
        "source": {"type": "replay", "path": str(chat)},
        "output": {"type": "null", "realtime": True, "gap_ms": 50},
        "text": {"rate_limit": None},
        "state_dir": str(tmp_path / "state"),
    }
    return parse_config(data, tmp_path / "config.yaml")


class Run:
    """The daemon on a replay; records every playback event and snapshots of its status."""

    def __init__(self, tmp_path: Path, lines: list[dict[str, Any]], delay_s: float = 0.05) -> None:
        cfg = replay_config(tmp_path, lines)
        self.state = tmp_path / "state"
        self.daemon = Daemon(
            cfg,
            make_source(cfg.source),
            lambda: FakeSynthesizer(voices=["zh"], delay_s=delay_s),
            make_sink(cfg.output),
        )
        self.events: list[PlaybackEvent] = []
        self.daemon.playback_listeners.append(self.events.append)

    def run(self) -> None:
        assert asyncio.run(self.daemon.run()) == 0

    def heard(self) -> list[str]:
        return [e.request.event.text for e in self.events if isinstance(e, Started)]

    def replies(self) -> dict[str, str]:
        audit = (self.state / "audit.jsonl").read_text(encoding="utf-8").splitlines()
        return {r["verb"]: r["result"] for r in map(json.loads, audit)}

    def assert_balanced(self) -> None:
        ledger = self.daemon.ledger
        assert ledger.open == 0
        assert ledger.received == ledger.spoken + ledger.failed + sum(ledger.drops.values())
        settled = [e.request.seq for e in self.events if isinstance(e, Finished | Unplayed)]
        assert sorted(settled) == sorted(set(settled))  # each utterance ended once


def moderator(t: float, command: str) -> dict[str, Any]:
    return {"t": t, "uid": 1, "uname": "房管", "role": "moderator", "text": f"#tts {command}"}


def test_pause_six_messages_clear_and_none_is_heard(tmp_path: Path) -> None:
    """They wait everywhere at once: queue, synthesis, the output's pending audio. Clear reaches all."""
    chat = [moderator(0, "pause")]
    chat += [{"t": 0.1 + i * 0.05, "uid": 10 + i, "text": f"第{i}条{SECOND}"} for i in range(6)]
    chat += [moderator(1.5, "clear"), moderator(1.6, "resume")]
    run = Run(tmp_path, chat)
    run.run()
    assert run.heard() == []
    assert run.replies()["clear"] == "cleared 6 waiting message(s)"
    assert run.daemon.ledger.drops["cleared"] == 6 and run.daemon.ledger.spoken == 0
    assert run.daemon.moderator.commands == 3
    run.assert_balanced()


def test_mute_last_cuts_the_one_heard_and_drops_their_waiting_ones(tmp_path: Path) -> None:
    """`last` is whoever is being heard (the output says so), not the last message handed to it."""
    chat = [{"t": 0, "uid": 20, "uname": "刷屏的", "text": f"刷屏{i}{SECOND}{SECOND}"} for i in range(4)]
    chat += [{"t": 0.05, "uid": 21, "uname": "路人", "text": f"路人的话{SECOND}"}]
    chat += [moderator(1.0, "mute last")]
    run = Run(tmp_path, chat)
    run.run()
    assert run.heard() == [chat[0]["text"], chat[4]["text"]]
    ends = [(e.request.event.uid, getattr(e, "ending", None) or getattr(e, "reason", "")) for e in run.events]
    ends = [end for end, e in zip(ends, run.events, strict=True) if not isinstance(e, Started)]
    # Its waiting ones are dropped at once (queue, synthesis, output), then the one heard ends, cut.
    assert ends == [(20, "muted")] * 3 + [(20, "cut"), (21, "complete")]
    assert run.replies()["mute"] == "muted 刷屏的 until unmuted; 3 dropped"
    assert run.daemon.ledger.drops["muted"] == 3 and run.daemon.ledger.cut == 1
    run.assert_balanced()


def test_a_message_recalled_while_it_is_synthesised_is_never_heard(tmp_path: Path) -> None:
    chat = [
        {"t": 0, "uid": 30, "msg_id": "m1", "text": f"要撤回的{SECOND}"},
        {"t": 0.3, "kind": "recall", "msg_id": "m1", "text": ""},
        {"t": 0.35, "uid": 31, "msg_id": "m2", "text": f"留下的{SECOND}"},
    ]
    run = Run(tmp_path, chat, delay_s=0.8)  # the recall arrives while the GPU works on m1
    run.run()
    assert run.heard() == [chat[2]["text"]]
    assert run.daemon.ledger.drops["recalled"] == 1
    assert run.replies()["recall"] == "message m1 withdrawn before it was heard"
    run.assert_balanced()


def test_status_says_who_is_heard_and_is_idle_when_nothing_is(tmp_path: Path) -> None:
    chat = [{"t": 0, "uid": 40, "uname": "小明", "text": f"你好{SECOND}"}]
    run = Run(tmp_path, chat)
    seen: list[tuple[Any, int]] = []

    def look(event: PlaybackEvent) -> None:
        status = run.daemon.snapshot().as_json()
        seen.append((status["speaking"] and status["speaking"]["uname"], status["queued"]))

    run.daemon.playback_listeners.append(look)
    run.run()
    assert seen == [("小明", 0), (None, 0)]
    status = run.daemon.snapshot().as_json()
    assert status["speaking"] is None and status["queued"] == 0 and status["spoken"] == 1
