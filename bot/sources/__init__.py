"""Chat sources: where messages come from, one package per `source: {type: ...}`; bot/registry.py lists
them, and `make_source` builds the configured one with its type's own factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.component import SourceSettings
    from bot.protocols import ChatSource


def make_source(settings: SourceSettings) -> ChatSource:
    from bot.registry import SOURCES  # here, not above: the registry imports every package under this one

    return SOURCES[settings.type].make(settings)
