"""End to end through the real daemon (fake engine): what the engine is given for the demo's chat."""

from __future__ import annotations

import asyncio
import json
import threading
from importlib.resources import files
from pathlib import Path

import pytest

from bot.config import load_config
from bot.events import ChatEvent, Role
from bot.pipeline import Daemon
from bot.speech import prepare
from bot.testing.fake_synthesizer import FakeSynthesizer
from tests.test_pipeline import Events, RecordingSink

DEMO = Path(str(files("bot").joinpath("demo/demo.yaml")))


def demo_chat() -> list[ChatEvent]:
    lines = (DEMO.parent / "chat.jsonl").read_text(encoding="utf-8").splitlines()
    fields = ("text", "uid", "uname")
    return [ChatEvent(**{k: v for k, v in json.loads(line).items() if k in fields}) for line in lines]


def run(events: list[ChatEvent], path: Path = DEMO, setup: object = None) -> tuple[FakeSynthesizer, Daemon]:
    cfg = load_config(path)
    fake = FakeSynthesizer(voices=[v.id for v in cfg.voices])
    daemon = Daemon(cfg, Events(events), lambda: fake, RecordingSink(), config_path=path)
    if callable(setup):
        setup(daemon)
    asyncio.run(daemon.run())
    return fake, daemon


def test_the_demo_s_english_line_goes_to_the_english_voice() -> None:
    fake, daemon = run(demo_chat())
    assert fake.calls == [
        ("主播好厉害，这波操作太秀了！", "zh"),
        ("hello from Berlin, first time here", "en"),
        ("哈哈哈", "zh"),
        ("庆祝", "zh"),
        ("今天晚上八点还有一场特别活动，不要错过哦", "zh"),
        ("GG wp six six six", "en"),
    ]
    assert daemon.ledger.spoken == 6


def test_a_viewer_given_a_voice_keeps_it_and_numbers_are_read_as_words() -> None:
    def give_voice(daemon: Daemon) -> None:
        daemon.moderator.state.voices[42] = "zh"

    events = [ChatEvent(text="hello from Berlin, 2 hours ago", uid=42), ChatEvent(text="主播2333，10:30见", uid=43)]
    fake, _ = run(events, setup=give_voice)
    assert fake.calls == [("hello from Berlin, two hours ago", "zh"), ("主播二三三三，十点三十分见", "zh")]


def test_routing_can_be_switched_off(tmp_path: Path) -> None:
    cfg = tmp_path / "demo.yaml"
    text = DEMO.read_text(encoding="utf-8").replace("chat.jsonl", str(DEMO.parent / "chat.jsonl"))
    cfg.write_text(text.replace("  max_chars: 60", "  max_chars: 60\n  voice_by_language: false"), encoding="utf-8")
    fake, _ = run([ChatEvent(text="hello from Berlin, first time here", uid=1)], cfg)
    assert fake.calls == [("hello from Berlin, first time here", "zh")]


def test_a_long_message_is_cut_to_max_audio_s_and_counted(tmp_path: Path) -> None:
    cfg = tmp_path / "demo.yaml"
    text = DEMO.read_text(encoding="utf-8").replace("chat.jsonl", str(DEMO.parent / "chat.jsonl"))
    cfg.write_text(text.replace("  max_chars: 60", "  max_chars: 200\n  max_audio_s: 3"), encoding="utf-8")
    long = "今天晚上八点还有一场特别活动不要错过哦" * 5
    fake, daemon = run([ChatEvent(text=long, uid=1, role=Role.OPERATOR), ChatEvent(text="好", uid=2)], cfg)
    assert fake.calls[0][0].endswith("，等等") and len(fake.calls[0][0]) < 30
    assert daemon.stats.shortened == 1 and "shortened 1," in daemon.snapshot().summary()
    assert "ishowtts_messages_shortened_total 1.0" in daemon.metrics.render().decode()  # /metrics says it too


def test_the_text_is_prepared_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = prepare.SpeechPreparer.prepare

    def spy(self: prepare.SpeechPreparer, request: object) -> prepare.Prepared:
        threads.append(threading.get_ident())
        return real(self, request)  # type: ignore[arg-type]

    monkeypatch.setattr(prepare.SpeechPreparer, "prepare", spy)
    run([ChatEvent(text="666", uid=1)])
    assert threads and threading.get_ident() not in threads


def test_a_reload_rebuilds_the_stage(tmp_path: Path) -> None:
    cfg = tmp_path / "demo.yaml"
    text = DEMO.read_text(encoding="utf-8").replace("chat.jsonl", str(DEMO.parent / "chat.jsonl"))
    cfg.write_text(text, encoding="utf-8")
    _, daemon = run([ChatEvent(text="好", uid=1)], cfg)
    assert daemon.preparer is not None and daemon.preparer.cfg.voice_by_language
    cfg.write_text(text.replace("  max_chars: 60", "  max_chars: 60\n  voice_by_language: false"), encoding="utf-8")
    assert asyncio.run(daemon.reload())
    assert daemon.preparer is not None and not daemon.preparer.cfg.voice_by_language
