"""Streamed long messages end to end, through the real daemon: the first part is heard while the rest
is synthesised, the joins are the engine's own cross-fades (streamed output equals unstreamed), and a
moderator's skip, clear or recall still stops the rest."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from bot.config import parse_config
from bot.pipeline import Daemon
from bot.playback import Ending, Finished, PlaybackEvent, Started, Unplayed
from bot.sinks import make_sink
from bot.sinks.soundcard.levels import StreamedLevels, prepare
from bot.sources import make_source
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.testing.voice_clips import ZH_REF, ZH_TEXT
from tests.conftest import make_tiny_synthesizer

SECOND = "一二三四五六七八九十"
"""Ten characters: one second of the fake engine's speech (and its streamed head)."""
LONG = SECOND * 3
"""Three seconds: a Head of one second, a rest of two."""


class Run:
    """The daemon on a replay with the fake engine streaming texts over ten characters, into the null
    output in real time (a sound card nobody hears)."""

    def __init__(
        self,
        tmp_path: Path,
        lines: list[dict[str, Any]],
        delay_s: float = 0.4,
        output: dict[str, Any] | None = None,
        engine: dict[str, Any] | None = None,
        **knobs: Any,
    ) -> None:
        chat = tmp_path / "chat.jsonl"
        chat.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
        data = {
            "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": ZH_TEXT}],
            "source": {"type": "replay", "path": str(chat)},
            "output": output or {"type": "null", "realtime": True, "gap_ms": 50},
            "text": {"rate_limit": None, "max_chars": 200, "max_audio_s": 60},
            "state_dir": str(tmp_path / "state"),
            "engine": engine or {},
        }
        cfg = parse_config(data, tmp_path / "config.yaml")
        self.engine = FakeSynthesizer(voices=["zh"], delay_s=delay_s, stream_over=len(SECOND), **knobs)
        self.daemon = Daemon(cfg, make_source(cfg.source), lambda: self.engine, make_sink(cfg.output))
        self.events: list[PlaybackEvent] = []
        self.daemon.playback_listeners.append(self.events.append)

    def run(self, exit_code: int = 0) -> None:
        assert asyncio.run(self.daemon.run()) == exit_code
        ledger = self.daemon.ledger
        assert ledger.open == 0
        assert ledger.received == ledger.spoken + ledger.failed + sum(ledger.drops.values())

    def of(self, text: str) -> list[PlaybackEvent]:
        return [e for e in self.events if e.request.event.text == text]


def moderator(t: float, command: str) -> dict[str, Any]:
    return {"t": t, "uid": 1, "uname": "房管", "role": "moderator", "text": f"#tts {command}"}


def test_a_long_message_is_heard_while_its_rest_is_synthesised_and_heard_whole(tmp_path: Path) -> None:
    run = Run(tmp_path, [{"t": 0, "uid": 10, "text": LONG}])
    run.run()
    started, finished = run.of(LONG)
    assert isinstance(started, Started) and isinstance(finished, Finished)
    assert finished.ending == Ending.COMPLETE and run.engine.rests == 1
    # its first second was heard before the rest existed: the rest takes 0.4 s to make, after the head
    assert run.engine.calls == [(LONG, "zh")]
    assert finished.at - started.at >= 2.5  # and the rest was heard after it (1 s + 2 s)


def test_a_streamed_message_counts_its_rest_in_the_throughput(tmp_path: Path) -> None:
    """Audio over work, in the summary and /metrics: both parts of a streamed message, each step 0.4 s of
    work (before, the rest's work was left out: the first part's 0.4 s for all of the audio)."""
    run = Run(tmp_path, [{"t": 0, "uid": 10, "text": LONG}])
    run.run()
    stats, metric = run.daemon.stats, run.daemon.metrics.registry.get_sample_value
    assert stats.audio_seconds == pytest.approx(3.0, abs=0.01)
    assert stats.synth_seconds >= 0.8
    assert metric("ishowtts_synthesis_seconds_count") == 1 and metric("ishowtts_real_time_factor_count") == 1
    assert metric("ishowtts_synthesis_seconds_sum") == pytest.approx(stats.synth_seconds)
    assert metric("ishowtts_real_time_factor_sum") == pytest.approx(stats.synth_seconds / stats.audio_seconds)


def test_a_failed_rest_counts_toward_the_engine_failure_guard(tmp_path: Path) -> None:
    """The GPU runs out of memory on a long message's rest, then on the next message: two engine failures
    in a row (before, a failed rest was only a log line), so at max_failures_in_a_row 2 the daemon exits 2
    for systemd to start a clean process. The long message was heard up to where its rest failed."""
    chat = [{"t": 0, "uid": 10, "text": LONG}, {"t": 0.1, "uid": 11, "text": "坏了"}]
    run = Run(tmp_path, chat, engine={"max_failures_in_a_row": 2}, rest_failures=1, fail_texts=frozenset({"坏了"}))
    run.run(exit_code=2)
    assert run.engine.rests == 1 and run.daemon.ledger.failed == 1
    started, _ = run.of(LONG)
    assert isinstance(started, Started)


def test_failed_rests_count_once_per_engine_call_and_not_when_a_first_part_works_between(tmp_path: Path) -> None:
    """Two long messages, batched or not, whose rests fail: one call for both rests is one failure, and
    between two calls for one rest each, the second message's first part worked. Neither is two failures
    in a row."""
    chat = [{"t": 0, "uid": 10, "text": LONG}, {"t": 0, "uid": 11, "text": LONG + "二"}]
    run = Run(tmp_path, chat, delay_s=0.1, engine={"max_failures_in_a_row": 2}, rest_failures=2, max_batch=2)
    run.run()
    assert run.daemon.ledger.spoken == 2


def test_skip_cuts_a_streamed_message_and_its_rest_is_never_heard(tmp_path: Path) -> None:
    chat = [{"t": 0, "uid": 10, "text": LONG}, moderator(0.6, "skip"), {"t": 0.65, "uid": 11, "text": "下一条"}]
    run = Run(tmp_path, chat)
    run.run()
    _, cut = run.of(LONG)
    following, _ = run.of("下一条")
    assert isinstance(cut, Finished) and cut.ending == Ending.CUT
    assert isinstance(following, Started)
    # the rest (two seconds) was not written after the cut: the next message follows at once
    assert following.at - cut.at < 1.5


def test_skip_cuts_a_streamed_message_written_to_files_while_its_rest_is_made(tmp_path: Path) -> None:
    """A WAV output has nothing unheard but the rest still being synthesised: skip (and a mute, which the
    controller turns into a skip of the current message) cancels it, and the file holds the first part."""
    chat = [
        {"t": 0, "uid": 10, "text": LONG},
        moderator(1.5, "skip"),  # the head is written at 1 s, the rest would be at 2 s
        {"t": 2.0, "uid": 12, "text": LONG + "二"},
        moderator(3.5, "mute 12"),  # its head at ~3 s, its rest at ~4 s
    ]
    out = tmp_path / "out"
    run = Run(tmp_path, chat, delay_s=1.0, output={"type": "wav", "path": str(out)})
    run.run()
    for text in (LONG, LONG + "二"):
        started, cut = run.of(text)
        assert isinstance(started, Started) and isinstance(cut, Finished) and cut.ending == Ending.CUT
    files = sorted(out.glob("*.wav"))
    assert len(files) == 2
    assert all(0.9 <= sf.info(str(f)).duration <= 1.2 for f in files)  # the first second only, not three
    assert run.daemon.ledger.cut == 2


def test_clear_drops_a_streamed_message_waiting_for_its_rest(tmp_path: Path) -> None:
    chat = [{"t": 0, "uid": 10, "text": LONG}, {"t": 0, "uid": 11, "text": LONG + "二"}, moderator(0.6, "clear")]
    run = Run(tmp_path, chat)
    run.run()
    assert [type(e).__name__ for e in run.of(LONG)] == ["Started", "Finished"]
    assert [type(e).__name__ for e in run.of(LONG + "二")] in (["Unplayed"], [])
    assert run.daemon.ledger.drops.get("cleared", 0) + run.daemon.ledger.cut >= 1


def test_a_streamed_message_recalled_while_its_head_is_made_never_has_its_rest_made(tmp_path: Path) -> None:
    chat = [
        {"t": 0, "uid": 30, "msg_id": "m1", "text": LONG},
        {"t": 0.2, "kind": "recall", "msg_id": "m1", "text": ""},
    ]
    run = Run(tmp_path, chat, delay_s=0.6)  # the recall arrives while the GPU works on the head
    run.run()
    assert run.of(LONG) == [] and run.daemon.ledger.drops["recalled"] == 1
    assert run.engine.rests == 0  # withdrawn before it began: the rest was never synthesised


def test_streamed_output_equals_unstreamed_through_the_daemon(tmp_path: Path, tiny_model: Path) -> None:
    """The tiny engine, seeded, a WAV file out: the long message as the daemon streamed it (first part,
    then the rest appended) against the same engine's unstreamed audio of the same text."""
    text = "感谢老板送的火箭！今天的直播真的太精彩了，主播的操作一次比一次秀，我从下午一直看到现在都舍不得走。"
    engine = make_tiny_synthesizer(tmp_path, tiny_model)
    unstreamed = engine.synthesize(text, "zh")
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"t": 0, "text": text}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.wav"
    data = {
        "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": ZH_TEXT}],
        "source": {"type": "replay", "path": str(chat), "speed": 0},
        "output": {"type": "wav", "path": str(out)},
        "text": {"max_chars": 200, "normalize": False},
        "state_dir": str(tmp_path / "state"),
    }
    cfg = parse_config(data, tmp_path / "config.yaml")
    streamed: list[PlaybackEvent] = []
    daemon = Daemon(cfg, make_source(cfg.source), lambda: engine, make_sink(cfg.output))
    daemon.playback_listeners.append(streamed.append)
    assert asyncio.run(daemon.run()) == 0
    assert [type(e) for e in streamed] == [Started, Finished] and not any(isinstance(e, Unplayed) for e in streamed)
    heard, _ = sf.read(out, dtype="float32")
    assert heard.shape == unstreamed.shape
    assert float(np.linalg.norm(heard - unstreamed) / np.linalg.norm(unstreamed)) <= 1e-4


def test_a_streamed_utterance_is_resampled_across_its_join() -> None:
    """At a card's 48 kHz, the parts resampled as one stream equal the whole resampled at once, but for
    the resampler's own edge at the very end."""
    rng = np.random.default_rng(0)
    t = np.arange(48_000) / 24_000
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    levels = StreamedLevels(24_000, 48_000, 1.0)
    parts = np.concatenate([levels.part(pcm[:20_000], last=False), levels.part(pcm[20_000:], last=True)])
    whole = prepare(pcm, 24_000, 48_000, 1.0)
    assert abs(len(parts) - len(whole)) <= 2
    n = min(len(parts), len(whole)) - 200
    assert float(np.max(np.abs(parts[:n] - whole[:n]))) < 1e-3


