"""Audio sinks: where utterances go, one package per `output: {type: ...}`; bot/registry.py lists them,
and `make_sink` builds the configured one with its type's own factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.component import OutputSettings
    from bot.protocols import AudioSink


def make_sink(settings: OutputSettings, stale_after_s: float | None = None) -> AudioSink:
    """`stale_after_s`: see OutputComponent."""
    from bot.registry import OUTPUTS  # here, not above: the registry imports every package under this one

    return OUTPUTS[settings.type].make(settings, stale_after_s)
