"""Faults injected into a real `python -m bot run` subprocess, for the shutdown tests.

`tests/test_shutdown.py` puts a `sitecustomize.py` on the child's PYTHONPATH that calls `install()` with
$ISHOWTTS_FAULT. The engine is always the fake (no torch import: the child starts in a second), and it
prints `fault: <what>` on stderr at the moment the test should act.
"""

from __future__ import annotations

import asyncio
import sys
import time
import types
from collections.abc import AsyncIterator, Callable
from typing import Any

from bot.testing.fake_synthesizer import FakeSynthesizer


def mark(what: str) -> None:
    print(f"fault: {what}", file=sys.stderr, flush=True)


class SlowFake(FakeSynthesizer):
    """A fake whose synthesis of a text starting with 'slow' takes two minutes (a hung or huge one);
    `in_torch`: spent in torch's C++ thread pools, as the real engine's is."""

    in_torch = False

    def synthesize(self, text: str, voice: str) -> Any:
        if text.startswith("slow"):
            mark("synthesising")
            if self.in_torch:
                import torch

                x, deadline = torch.randn(1000, 1000), time.monotonic() + 120
                while time.monotonic() < deadline:
                    x = (x @ x).tanh()
            else:
                time.sleep(120)
        return super().synthesize(text, voice)


def fake_engine(load_s: float = 0.0) -> Callable[..., FakeSynthesizer]:
    def make(model: Any, voices: Any, engine: Any = None, longest_message_s: Any = None) -> FakeSynthesizer:
        if load_s:
            mark("loading")
            time.sleep(load_s)
        return SlowFake(voices=[v.id for v in voices])

    return make


def swallow_one_cancellation(method: Callable[..., Any]) -> Callable[..., Any]:
    """The coroutine method ignores the first cancellation and carries on, as a task does when
    `asyncio.wait_for` (3.11) hands back a result that arrived as it was cancelled."""

    async def wrapped(*args: Any) -> Any:
        try:
            return await method(*args)
        except asyncio.CancelledError:
            mark("cancellation swallowed")
        return await method(*args)

    return wrapped


def install(fault: str) -> None:
    import bot.health
    import bot.pipeline
    import bot.reload
    import bot.sources.console.source

    engine = types.ModuleType("bot.engine.synthesizer")
    engine.F5Synthesizer = fake_engine(load_s=120 if fault == "slow-load" else 0.0)  # type: ignore[attr-defined]
    sys.modules["bot.engine.synthesizer"] = engine
    SlowFake.in_torch = fault == "long-torch-synthesis"
    daemon = bot.pipeline.Daemon
    if fault == "heartbeat-swallows":
        health = bot.health.Health
        health.heartbeat = swallow_one_cancellation(health.heartbeat)  # type: ignore[method-assign]
    elif fault == "reader-swallows":
        daemon._read = swallow_one_cancellation(daemon._read)  # type: ignore[method-assign]
    elif fault == "reader-crashes":
        real_events = bot.sources.console.source.ConsoleChatSource.events

        async def crashing(self: Any) -> AsyncIterator[Any]:
            async for event in real_events(self):
                yield event
                raise RuntimeError("injected reader bug")

        bot.sources.console.source.ConsoleChatSource.events = crashing  # type: ignore[method-assign]
    elif fault == "reloader-crashes":

        async def reload(self: Any) -> bool:
            mark("reload")
            raise RuntimeError("injected reload bug")

        bot.reload.Reloader.reload = reload  # type: ignore[method-assign]
