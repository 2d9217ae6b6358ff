"""State on disk: round trip, expiry, atomic replacement, a corrupt file moved aside, the audit log."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from bot.errors import UserError
from bot.state_store import ModerationState, MuteEntry, StateStore, write_atomic


def test_round_trip_and_expired_mutes_are_not_kept(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.prepare()
    assert store.load() == ModerationState()
    state = ModerationState(
        mutes={
            5: MuteEntry(uid=5, name="小明", until=None, by="mod (1)", at=1.0),
            6: MuteEntry(uid=6, name="过期", until=1.0, by="mod (1)", at=0.5),
        },
        voices={7: "en"},
        default_voice="zh",
    )
    asyncio.run(store.save(state))
    loaded = store.load()
    assert set(loaded.mutes) == {5} and loaded.mutes[5].name == "小明"
    assert loaded.voices == {7: "en"} and loaded.default_voice == "zh"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert [p.name for p in store.folder.iterdir()] == ["state.json"]  # no temp file left behind


def test_timed_mutes_expire(tmp_path: Path) -> None:
    state = ModerationState(mutes={5: MuteEntry(uid=5, until=100.0)})
    assert state.is_muted(5, now=99.0)
    assert not state.is_muted(5, now=100.0) and 5 not in state.mutes


@pytest.mark.parametrize("content", [b"{not json", b'{"version": 2}', b'{"mutes": [{"uid": -1}]}', b"\xff\xfe"])
def test_a_corrupt_state_file_is_moved_aside_not_emptied(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore(tmp_path)
    store.path.write_bytes(content)
    with caplog.at_level(logging.ERROR):
        assert store.load() == ModerationState()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert not store.path.exists()
    assert len(caplog.records) == 1 and aside[0].name in caplog.records[0].getMessage()


def test_an_unwritable_state_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match=r"^state_dir: cannot write to .*file/state: "):
        StateStore(blocker / "state").prepare()


def test_write_atomic_leaves_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_audit_log_appends_lines_and_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.state_store.AUDIT_MAX_BYTES", 300)
    store = StateStore(tmp_path)

    async def go() -> None:
        for i in range(6):
            await store.audit({"uid": i, "command": "#tts skip", "ok": True})

    asyncio.run(go())
    current = [json.loads(line) for line in store.audit_path.read_text().splitlines()]
    rotated = [json.loads(line) for line in (tmp_path / "audit.jsonl.1").read_text().splitlines()]
    assert [r["uid"] for r in rotated + current][-len(current) :] == [r["uid"] for r in current]
    assert current[-1]["uid"] == 5 and "time" in current[-1]
    assert store.audit_path.stat().st_size <= 300
