"""Chat typed on stdin by the operator (`source: {type: console}`): its settings and its factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from bot.component import SourceComponent, SourceSettings

if TYPE_CHECKING:
    from bot.protocols import ChatSource


class ConsoleSource(SourceSettings):
    """Chat lines typed on stdin, one message per line."""

    type: Literal["console"]
    uname: str = "console"


def _make(cfg: ConsoleSource) -> ChatSource:
    from bot.sources.console.source import ConsoleChatSource

    return ConsoleChatSource(cfg.uname)


COMPONENT = SourceComponent(ConsoleSource, make=_make)
