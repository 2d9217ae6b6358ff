"""What moderators decided, kept across restarts: mutes (with expiry), per-viewer voices, the default
voice, and an append-only audit log of every command.

Durability is the point, so the write path is the careful one: a temp file in the same folder, fsync,
rename over the old file, fsync the folder (a crash leaves the old state or the new, never half of one).
Writes run in a thread (`asyncio.to_thread`) so the event loop never waits on the disk, one at a time
under a lock. A state file that does not parse is renamed aside (`state.json.corrupt-<time>`) with a
log line naming it, never silently emptied. Times are wall-clock (`time.time()`), since a mute's expiry
must survive a reboot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import UserError
from bot.sanitize import MAX_NAME_CHARS, json_safe, one_line

log = logging.getLogger(__name__)

AUDIT_MAX_BYTES = 10 * 1024 * 1024
"""The audit log is rotated to audit.jsonl.1 beyond this (two files at most on disk)."""


class MuteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    uid: int = Field(gt=0)
    name: str = ""
    until: float | None = None
    """Unix time the mute ends; None = until unmuted."""
    by: str = ""
    at: float = 0.0

    @field_validator("name", "by", mode="before")
    @classmethod
    def _one_line(cls, value: object) -> object:
        """A viewer's name reaches the file: it must encode (no lone surrogate) and stay on one line."""
        return one_line(value, 4 * MAX_NAME_CHARS) if isinstance(value, str) else value


class StateFile(BaseModel):
    """The schema of state.json."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    mutes: list[MuteEntry] = []
    voices: dict[int, str] = {}
    default_voice: str | None = None


@dataclass
class ModerationState:
    mutes: dict[int, MuteEntry] = field(default_factory=dict)
    voices: dict[int, str] = field(default_factory=dict)
    default_voice: str | None = None

    def is_muted(self, uid: int, now: float | None = None) -> bool:
        entry = self.mutes.get(uid)
        if entry is None:
            return False
        if entry.until is not None and entry.until <= (time.time() if now is None else now):
            del self.mutes[uid]
            return False
        return True

    def to_file(self, now: float | None = None) -> StateFile:
        now = time.time() if now is None else now
        live = [m for m in self.mutes.values() if m.until is None or m.until > now]
        return StateFile(mutes=live, voices=dict(self.voices), default_voice=self.default_voice)

    @classmethod
    def from_file(cls, data: StateFile) -> ModerationState:
        return cls(mutes={m.uid: m for m in data.mutes}, voices=dict(data.voices), default_voice=data.default_voice)


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash at any point leaves either the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class StateStore:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "state.json"
        self.audit_path = self.folder / "audit.jsonl"
        self._lock = asyncio.Lock()
        self.saves = 0

    def prepare(self) -> None:
        """Create the folder (mode 0700) or say in one line why it cannot be used."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            probe = self.folder / f".probe.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise UserError(f"state_dir: cannot write to {self.folder}: {err.strerror or err}") from None

    def problem(self) -> str | None:
        """What `prepare` or `load` would complain about, without creating or moving anything (`check`)."""
        folder = self.folder
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"state_dir: cannot write to {folder}"
        try:
            StateFile.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as err:
            return f"state_dir: cannot read {self.path}: {err.strerror or err}"
        except ValueError as err:
            return f"state_dir: {self.path} is corrupt ({_first_line(err)}); a run would move it aside and start empty"
        return None

    def load(self) -> ModerationState:
        """The saved state, or an empty one on first start; a corrupt file is moved aside, not lost."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return ModerationState()
        except OSError as err:
            raise UserError(f"state_dir: cannot read {self.path}: {err.strerror or err}") from None
        try:
            return ModerationState.from_file(StateFile.model_validate_json(raw))
        except (ValidationError, ValueError) as err:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
            os.replace(self.path, aside)
            log.error(
                "%s is corrupt (%s); moved it to %s and started with no mutes", self.path, _first_line(err), aside.name
            )
            return ModerationState()

    async def save(self, state: ModerationState) -> None:
        """Write a snapshot of `state` durably; returns once it is on disk."""
        data = state.to_file().model_dump_json(indent=1).encode()
        async with self._lock:
            await asyncio.to_thread(write_atomic, self.path, data)
            self.saves += 1

    async def audit(self, record: dict[str, Any]) -> None:
        """Append one JSON line to the audit log, durably (fsync), rotating it past AUDIT_MAX_BYTES."""
        entry = json_safe({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record})
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append_audit, line.encode("utf-8", "replace"))

    def _append_audit(self, line: bytes) -> None:
        try:
            if self.audit_path.stat().st_size + len(line) > AUDIT_MAX_BYTES:
                os.replace(self.audit_path, self.audit_path.with_name(self.audit_path.name + ".1"))
        except FileNotFoundError:
            pass
        fd = os.open(self.audit_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
