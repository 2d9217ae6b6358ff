"""Chat sources: where messages come from. `make_source` picks one from the config."""

from __future__ import annotations

from bot.config import ConsoleSource, ReplaySource
from bot.protocols import ChatSource


def make_source(cfg: ReplaySource | ConsoleSource) -> ChatSource:
    if isinstance(cfg, ReplaySource):
        from bot.sources.replay import ReplayChatSource

        return ReplayChatSource(cfg.path, cfg.speed)
    from bot.sources.console import ConsoleChatSource

    return ConsoleChatSource(cfg.uname)
