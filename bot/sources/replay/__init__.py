"""Chat replayed from a JSONL file (`source: {type: replay, path: ...}`): its settings, its check and
its factory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from bot.component import Findings, SourceComponent, SourceSettings
from bot.config_fields import ConfigPath

if TYPE_CHECKING:
    from bot.protocols import ChatSource


class ReplaySource(SourceSettings):
    """Chat lines from a JSONL file (one ChatEvent-shaped object, or a plain string, per line)."""

    type: Literal["replay"]
    path: ConfigPath
    speed: float = Field(default=1.0, ge=0, description="time factor; 0 replays as fast as possible")


def _make(cfg: ReplaySource) -> ChatSource:
    from bot.sources.replay.source import ReplayChatSource

    return ReplayChatSource(cfg.path, cfg.speed)


def _check(cfg: ReplaySource) -> Findings:
    if Path(cfg.path).is_file():
        return Findings()
    return Findings(problems=[f"source.path: file not found: {cfg.path}"])


COMPONENT = SourceComponent(ReplaySource, make=_make, check=_check)
