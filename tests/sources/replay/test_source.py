"""Replay files are hostile too: every malformed line is skipped with its line number, alone; arbitrary JSON
through the mapping and through the whole daemon never raises past a stage."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.pipeline import Daemon
from bot.sources.replay.source import ReplayChatSource, parse_line
from bot.testing.fake_synthesizer import FakeSynthesizer
from tests.test_pipeline import RecordingSink, config

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"text": "x", "uid": 1e400}', "'uid' must be a whole number"),
        ('{"text": "x", "guard_level": 1e400}', "'guard_level' must be a whole number"),
        ('{"text": "x", "uid": -1}', "'uid' must be a whole number"),
        ('{"text": "x", "uid": true}', "'uid' must be a whole number"),
        ('{"text": "x", "uname": {"a": 1}}', "'uname' must be a string"),
        ('{"text": "x", "price": 1e400}', "'price' must be a number"),
        ('{"text": "x", "t": 1e9}', "'t' must be a number of seconds"),
        ('{"text": "x", "t": -1}', "'t' must be a number of seconds"),
        ('{"text": "x", "kind": "nope"}', "is not a valid EventKind"),
        (DEEP, "nested too deeply"),
        ('{"text": ' + DEEP + "}", "nested too deeply"),
    ],
)
def test_malformed_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_line(line)


async def test_every_bad_line_is_skipped_with_its_number(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "chat.jsonl"
    lines = [b'"one"', b'{"text": "x", "uid": 1e400}', b'"bad \xff byte"', DEEP.encode(), b'{"text": "2", "t": 1e9}']
    path.write_bytes(b"\n".join([*lines, b'"three"', b""]))
    source = ReplayChatSource(str(path), speed=1.0)
    with caplog.at_level(logging.WARNING):
        texts = [event.text async for event in source.events()]
    assert texts == ["one", "three"]
    assert source.bad_lines == 4
    assert [r.getMessage().split(": ")[0] for r in caplog.records] == [f"chat.jsonl:{n}" for n in (2, 3, 4, 5)]


_KEYS = ["text", "uid", "uname", "t", "kind", "role", "guard_level", "price", "msg_id", "home_medal", "medal_level"]
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec=None), max_size=20)
    | st.sampled_from(["danmaku", "super_chat", "gift", "ban", "recall", "moderator", "#tts mute 1", "#tts clear"])
)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner))
_LINE = st.one_of(_JSON, st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=8))


@given(_LINE)
@settings(max_examples=400, deadline=None)
def test_arbitrary_json_never_raises_anything_but_value_error(obj: Any) -> None:
    with contextlib.suppress(ValueError):
        parse_line(json.dumps(obj))


@given(st.lists(_LINE, min_size=1, max_size=30))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_json_through_the_whole_daemon(tmp_path: Path, lines: list[Any]) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join([*(json.dumps(obj) for obj in lines), DEEP, '"the end"']) + "\n", encoding="utf-8")
    sink = RecordingSink()
    cfg = config(source={"type": "replay", "path": str(path), "speed": 0}, state_dir=str(tmp_path / "state"))
    daemon = Daemon(cfg, ReplayChatSource(str(path), speed=0), lambda: FakeSynthesizer(voices=["zh"]), sink)
    assert asyncio.run(asyncio.wait_for(daemon.run(), 60)) == 0
    assert sink.played[-1].request.text == "the end"
    assert daemon.stats.internal_errors == 0
    json.dumps(daemon.snapshot().as_json(), ensure_ascii=False).encode()
