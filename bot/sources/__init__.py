"""Chat sources: where messages come from. `make_source` picks one from the config."""

from __future__ import annotations

from bot.config import BilibiliSource, ConsoleSource, ReplaySource, TwitchSource
from bot.protocols import ChatSource


def make_source(cfg: ReplaySource | ConsoleSource | BilibiliSource | TwitchSource) -> ChatSource:
    if isinstance(cfg, ReplaySource):
        from bot.sources.replay.source import ReplayChatSource

        return ReplayChatSource(cfg.path, cfg.speed)
    if isinstance(cfg, BilibiliSource):
        from bot.sources.bilibili.source import BilibiliChatSource

        return BilibiliChatSource(cfg)
    if isinstance(cfg, TwitchSource):
        from bot.sources.twitch.source import TwitchChatSource

        return TwitchChatSource(cfg)
    from bot.sources.console.source import ConsoleChatSource

    return ConsoleChatSource(cfg.uname)
