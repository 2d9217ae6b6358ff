"""The boundary for outside strings: what a ChatEvent carries is always valid, one-line and bounded, and
what the state store writes always encodes."""

from __future__ import annotations

import asyncio
import json
import sys
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.events import ChatEvent
from bot.pipeline import Daemon
from bot.sanitize import _INVISIBLE, MAX_EVENT_TEXT_CHARS, json_safe, one_line, scalar_values
from bot.state_store import ModerationState, MuteEntry, StateStore
from bot.testing.fake_synthesizer import FakeSynthesizer
from tests.test_pipeline import RecordingSink, config


def test_every_format_character_of_this_python_is_removed() -> None:
    cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    missed = [f"U+{ord(ch):04X}" for ch in cf if not _INVISIBLE.fullmatch(ch)]
    assert not missed


def test_surrogates_controls_and_fillers() -> None:
    assert scalar_values("a\ud83db") == "a\ufffdb"
    assert scalar_values("\ud83d\ude00") == "😀"  # a pair is one character
    assert one_line("名字\n[INFO] forged\r\x00\u2028x\x1b", 64) == "名字 [INFO] forged  x"
    assert one_line("#\u200btts\u3164 mute", 64) == "#tts mute"
    assert one_line("ab\tc", 64) == "ab c" and one_line("x" * 100, 10) == "x" * 10
    assert one_line(None, 5) == "" and one_line(12, 5) == ""


@given(st.text(alphabet=st.characters(codec=None), max_size=200), st.integers(), st.floats())
@settings(max_examples=300, deadline=None)
def test_any_event_fields_come_out_clean(text: str, number: int, price: float) -> None:
    event = ChatEvent(text=text, uid=number, uname=text, msg_id=text, price=price, guard_level=number, mute_s=price)
    for value in (event.text, event.uname, event.msg_id):
        value.encode("utf-8")
        assert not {unicodedata.category(ch) for ch in value} & {"Cc", "Cf", "Cs", "Zl", "Zp"}
    assert 0 <= event.uid < 2**63 and 0 <= event.guard_level <= 9
    assert 0.0 <= event.price < 1e13 and (event.mute_s is None or event.mute_s > 0)


def test_wrong_types_become_defaults() -> None:
    event = ChatEvent(text=["x"], uid="5", uname={"a": 1}, price=float("inf"), home_medal="yes")  # type: ignore[arg-type]
    assert (event.text, event.uid, event.uname, event.price, event.home_medal) == ("", 0, "", 0.0, False)
    assert ChatEvent(text="x" * 100_000).text == "x" * MAX_EVENT_TEXT_CHARS


async def test_state_and_audit_always_encode(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.prepare()
    state = ModerationState(mutes={5: MuteEntry(uid=5, name="a\ud83d\nb", by="mod\ud83d")})
    await store.save(state)
    assert store.load().mutes[5].name == "a\ufffd b"
    await store.audit({"uname": "x\ud83d", "deep": [[["\ud83d"]]], "n": float("nan")})
    line = json.loads((tmp_path / "audit.jsonl").read_text(encoding="utf-8"))
    assert line["uname"] == "x\ufffd" and line["deep"] == [[["\ufffd"]]] and line["n"] is None
    assert json_safe({1: "a"}) == {"1": "a"}


class RaisingOnce:
    connected = True

    async def events(self) -> AsyncIterator[ChatEvent]:
        yield ChatEvent(text="boom", uid=1)
        yield ChatEvent(text="after", uid=2)


def test_a_bug_on_one_event_is_counted_and_the_reader_goes_on() -> None:
    sink = RecordingSink()
    daemon = Daemon(config(), RaisingOnce(), lambda: FakeSynthesizer(voices=["zh"]), sink)
    real = daemon.viewers.saw

    def saw(event: ChatEvent) -> None:
        if event.text == "boom":
            raise RuntimeError("a bug")
        real(event)

    daemon.viewers.saw = saw  # type: ignore[method-assign]
    assert asyncio.run(daemon.run()) == 0
    assert [u.request.text for u in sink.played] == ["after"]
    assert daemon.stats.internal_errors == 1 and daemon.snapshot().skipped["internal_error"] == 1
