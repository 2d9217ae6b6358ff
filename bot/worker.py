"""The GPU worker: one dedicated thread that alone owns the synthesizer and therefore all torch state.

The event loop hands it work through `asyncio.wrap_future` and never blocks on it: while a CUDA call
runs, chat keeps being read, filtered and queued. One job at a time is in flight; everything else waits
in the bounded speech queue where it can still be purged, reordered or dropped as stale.

The thread is a daemon thread of our own, not a ThreadPoolExecutor's: the interpreter joins an executor's
threads at exit, so a 40-second synthesis (or a hung CUDA call) would hold the process past systemd's
TimeoutStopSec. Finishing the job in flight at shutdown is a courtesy bounded by `close(timeout)`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from bot.errors import UserError
from bot.events import SpeechRequest, Utterance
from bot.heap import release_free_heap
from bot.protocols import Synthesizer

log = logging.getLogger(__name__)
T = TypeVar("T")

TRIM_EVERY_S = 30.0


class SynthesisWorker:
    def __init__(self, factory: Callable[[], Synthesizer]) -> None:
        self._factory = factory
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="gpu-worker", daemon=True)
        self._synth: Synthesizer | None = None
        self.thread_id: int | None = None
        self.last_beat = time.monotonic()
        """Updated by the worker thread after each job; a stale value means a hung GPU call."""
        self._trimmed_at = time.monotonic()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` in the worker thread (after any job in flight) without blocking the event loop."""
        if self._thread.ident is None:
            self._thread.start()
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return await asyncio.wrap_future(future)

    def _serve(self) -> None:
        """The worker thread: run jobs in order until told to stop; a job cancelled while waiting is skipped."""
        self.thread_id = threading.get_ident()
        while (item := self._jobs.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the awaiting coroutine, which decides
                future.set_exception(exc)
            finally:
                self.last_beat = time.monotonic()

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
    def running(self) -> bool:
        """The worker thread is alive: started and not yet stopped (or left behind by `close`)."""
        return self._thread.is_alive()

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
        hangs makes this hang too. The systemd watchdog is fed only when this returns in time. At most
        every TRIM_EVERY_S, the no-op also returns the heap's free memory to the system (bot/heap.py)."""
        now = time.monotonic()
        if now - self._trimmed_at < TRIM_EVERY_S:
            await self.call(lambda: None)
            return
        self._trimmed_at = now
        await self.call(release_free_heap)

    async def close(self, timeout: float = 2.0) -> bool:
        """Cancel the jobs still waiting, let the one in flight finish within `timeout`, then stop the thread.
        False if it was still busy: it is left behind (a daemon thread) and the process may exit anyway."""
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[1].cancel()
        self._jobs.put(None)
        if self._thread.ident is None:
            return True
        await asyncio.to_thread(self._thread.join, timeout)
        if self._thread.is_alive():
            log.warning("GPU worker still busy %.1f s into shutdown; exiting without waiting for it", timeout)
            return False
        return True
