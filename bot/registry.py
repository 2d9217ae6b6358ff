"""Every chat source and audio output type, by the `type:` that picks it in config.yaml. The one central
list a new platform is added to; its package holds the rest (bot/component.py says what)."""

from __future__ import annotations

from typing import Any

from bot.component import OutputComponent, Registry, SourceComponent
from bot.sinks import null, soundcard, wav
from bot.sources import bilibili, console, replay, twitch

SOURCES: Registry[SourceComponent[Any]] = Registry(
    "source", replay.COMPONENT, console.COMPONENT, bilibili.COMPONENT, twitch.COMPONENT
)
OUTPUTS: Registry[OutputComponent[Any]] = Registry("output", wav.COMPONENT, null.COMPONENT, soundcard.COMPONENT)

