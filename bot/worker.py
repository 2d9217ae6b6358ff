"""The GPU worker: one dedicated thread that alone owns the synthesizer and therefore all torch state.

The event loop hands it work through `asyncio.wrap_future` and never blocks on it: while a CUDA call
runs, chat keeps being read, filtered and queued. One job at a time is in flight; everything else waits
in the bounded speech queue where it can still be purged, reordered or dropped as stale.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.errors import UserError
from bot.events import SpeechRequest, Utterance
from bot.protocols import Synthesizer

log = logging.getLogger(__name__)
T = TypeVar("T")


class SynthesisWorker:
    def __init__(self, factory: Callable[[], Synthesizer]) -> None:
        self._factory = factory
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpu-worker")
        self._synth: Synthesizer | None = None
        self.thread_id: int | None = None
        self.last_beat = time.monotonic()
        """Updated by the worker thread after each job; a stale value means a hung GPU call."""

    async def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` in the worker thread (after any job in flight) without blocking the event loop."""

        def job() -> T:
            self.thread_id = threading.get_ident()
            try:
                return fn()
            finally:
                self.last_beat = time.monotonic()

        return await asyncio.wrap_future(self._executor.submit(job))

    async def start(self, warm_up: bool = True) -> list[str]:
        """Build the synthesizer (load the model) and warm it up in the worker thread; returns the voices."""
        self._synth = await self.call(self._factory)
        if warm_up:
            synth = self._synth
            t0 = time.perf_counter()
            shapes = await self.call(synth.warm_up)
            log.info("warmed up %d shapes in %.1f s", shapes, time.perf_counter() - t0)
        return await self.call(self._synth.voices)

    @property
    def synthesizer(self) -> Synthesizer:
        if self._synth is None:
            raise RuntimeError("worker not started")
        return self._synth

    async def synthesize(self, requests: list[SpeechRequest]) -> list[Utterance | UserError]:
        """Synthesise requests in one batched call; each gets its utterance or its own error, in order.
        An engine failure of the whole call (e.g. GPU out of memory) raises."""
        synth = self.synthesizer

        def run() -> list[Utterance | UserError]:
            t0 = time.perf_counter()
            results = synth.synthesize_batch([(r.text, r.voice) for r in requests])
            took = time.perf_counter() - t0
            return [
                res if isinstance(res, UserError) else Utterance(request=req, pcm=res, synth_seconds=took)
                for req, res in zip(requests, results, strict=True)
            ]

        return await self.call(run)

    async def ping(self) -> None:
        """Completes once the worker thread has run a no-op: after any job in flight, so a GPU call that
        hangs makes this hang too. The systemd watchdog is fed only when this returns in time."""
        await self.call(lambda: None)

    async def close(self, timeout: float = 10.0) -> None:
        """Let a job in flight finish (bounded by `timeout`), then stop the thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(None, self._executor.shutdown, True)
        try:
            await asyncio.wait_for(done, timeout)
        except asyncio.TimeoutError:
            log.warning("GPU worker still busy after %.0f s at shutdown; leaving it", timeout)
