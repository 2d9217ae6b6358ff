"""The GPU worker: one dedicated thread that alone owns the synthesizer and therefore all torch state.

The event loop hands it work through `asyncio.wrap_future` and never blocks on it: while a CUDA call
runs, chat keeps being read, filtered and queued. One job at a time is in flight; everything else waits
in the bounded speech queue where it can still be purged, reordered or dropped as stale.

The thread is a daemon thread of our own, not a ThreadPoolExecutor's: the interpreter joins an executor's
threads at exit, so a 40-second synthesis (or a hung CUDA call) would hold the process past systemd's
TimeoutStopSec. Finishing the job in flight at shutdown is a courtesy bounded by `close(timeout)`.

Health is progress, not promptness: a job may take minutes (the full model on a CPU) and still be
healthy, while a CUDA call that never returns must starve the watchdog. `JobClock` tells the two apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np

from bot.errors import SynthesisError, UserError
from bot.events import Head, Pcm, Rest, SpeechRequest, Utterance
from bot.heap import release_free_heap
from bot.protocols import Synthesizer

log = logging.getLogger(__name__)
T = TypeVar("T")

TRIM_EVERY_S = 30.0
IDLE_BEFORE_PREPARE_S = 1.0
"""A background warm-up step starts only after the worker has been idle this long. A step (compiling and
capturing one shape) takes up to seconds and a message arriving meanwhile waits for it: on an H200 with
0.2 s the first 20 messages at one a second waited up to 6.8 s (docs/benchmarks.md), so steps wait for a
pause in the chat; until then the eager path speaks."""
QUIET_PER_STEP = 2.0
"""...and only after a pause this many times as long as a step of its kind is expected to take (the last
one timed, or half the previous expectation if that was longer: a long compile step is not forgotten at
once): with chat every 2 s and 1.3-s steps on an H200, messages that came mid-step waited up to 1.6 s; a
chat that never pauses that long keeps the faster path it has, which is still many times faster than
real time."""
FIRST_STEP_GUESS_S = 5.0
"""What a warm-up step of a kind not timed yet is taken to cost. The first compile (with a new cache it
also sets up torch.compile) held the worker 7-8 s on an H200, and with nothing timed yet it started 1 s
into a 2-s pause of the chat, so messages 3-6 after a restart waited 8.5, 7.2, 5.2, 3.2 s
(docs/benchmarks.md). Guessing long keeps a chat that pauses only briefly on the path it has until a
longer pause comes."""
POLL_STEP_S = 0.01
"""A step quicker than this only looked whether the compiler's imports are done: its kind is instant."""
STEADY_GAPS = 4
"""Gaps between the last messages kept to judge a steady chat by (see `_room_for_step`)."""
STEADY_MARGIN = 1.25
"""...and a step starts in a steady chat only if this many times its expected time fits before the next
message is due. Captures on an H200 took 0.4-1.1 s with a message every 2 s: twice the longest would not
fit, and steps would wait for a pause the chat never makes."""
PREPARE_POLL_S = 0.05
"""How often a waiting warm-up step looks whether it may start."""
VOICE_WORK = 20.0
"""A synthesis job's work is its characters plus this per request: each pass also runs over the voice's
reference clip, which costs about as much as a short sentence."""


@dataclass(frozen=True)
class _Job:
    kind: str
    started: float
    bound_s: float


class JobClock:
    """How long the job in flight may take before it counts as hung.

    Each job names its kind and its amount of work (characters, say). For each kind a running estimate of
    seconds per unit of work is kept (exponentially weighted over finished jobs); a job is allowed `slack`
    times its expected time, never less than `floor_s` (timer jitter, a cold GPU clock) and never more
    than `ceiling_s`, which is also the bound of a kind not yet measured. Written by the worker thread,
    read by the event loop: each state is one immutable object swapped in whole."""

    def __init__(
        self, slack: float = 4.0, floor_s: float = 30.0, ceiling_s: float = 900.0, smoothing: float = 0.3
    ) -> None:
        self.slack = slack
        self.floor_s = floor_s
        self.ceiling_s = ceiling_s
        self.smoothing = smoothing
        self.per_unit: dict[str, float] = {}
        """Seconds per unit of work, by kind: the running estimate."""
        self._job: _Job | None = None
        self._work = 1.0

    def bound(self, kind: str, work: float) -> float:
        rate = self.per_unit.get(kind)
        if rate is None:
            return self.ceiling_s
        return min(self.ceiling_s, max(self.floor_s, self.slack * rate * work))

    def begin(self, kind: str, work: float) -> None:
        self._work = max(work, 1e-9)
        self._job = _Job(kind, time.monotonic(), self.bound(kind, self._work))

    def end(self) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        rate = (time.monotonic() - job.started) / self._work
        old = self.per_unit.get(job.kind)
        self.per_unit[job.kind] = rate if old is None else old + self.smoothing * (rate - old)

    def within_bound(self) -> bool:
        """A job is in flight and has not yet outlasted its bound."""
        job = self._job
        return job is not None and time.monotonic() - job.started <= job.bound_s

    def overdue(self) -> str | None:
        """What is wrong, if the job in flight has outlasted its bound."""
        job = self._job
        if job is None or (took := time.monotonic() - job.started) <= job.bound_s:
            return None
        return f"{job.kind} running for {took:.0f} s, over its bound of {job.bound_s:.0f} s"


class SynthesisWorker:
    def __init__(self, factory: Callable[[], Synthesizer], clock: JobClock | None = None) -> None:
        self._factory = factory
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="gpu-worker", daemon=True)
        self._synth: Synthesizer | None = None
        self.thread_id: int | None = None
        self.clock = clock or JobClock()
        self._trimmed_at = time.monotonic()
        self._pending = 0
        """Jobs submitted through `call` and not yet finished (or abandoned by their caller)."""
        self._idle_since = time.monotonic()
        self._arrivals: deque[float] = deque(maxlen=STEADY_GAPS + 1)
        """When the last synthesis calls came (each batch of messages the speaker hands over)."""
        self._preparing: asyncio.Task[None] | None = None

    def _submit(self, fn: Callable[[], T]) -> Future[T]:
        if self._thread.ident is None:
            self._thread.start()
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return future

    async def call(self, fn: Callable[[], T], kind: str = "call", work: float = 1.0) -> T:
        """Run `fn` in the worker thread (after any job in flight) without blocking the event loop. `kind`
        and `work` (in that kind's units) set how long it may run before it counts as hung."""

        def job() -> T:
            self.clock.begin(kind, work)
            try:
                return fn()
            finally:
                self.clock.end()

        self._hold()
        try:
            return await asyncio.wrap_future(self._submit(job))
        finally:
            self._release()

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

    async def start(self, warm_up: bool = True) -> list[str]:
        """Build the synthesizer (load the model) in the worker thread and take the first warm-up step,
        after which it can speak; the other steps (capturing graphs, compiling) run in the background,
        between requests. Returns the voices."""
        self._synth = await self.call(self._factory, kind="load")
        if warm_up:
            steps = self._synth.warm_up_steps()
            t0 = time.perf_counter()
            upcoming = await self.call(lambda: next(steps, None), kind="warm-up")
            log.info("able to speak after %.1f s of warm-up", time.perf_counter() - t0)
            self._preparing = asyncio.create_task(self._prepare_between_jobs(steps, upcoming), name="gpu-prepare")
        return await self.call(self._synth.voices)

    async def _prepare_between_jobs(self, steps: Iterator[str], upcoming: str | None) -> None:
        """Take the remaining warm-up steps one at a time, each only when there is room for it before the
        next message (`_room_for_step`), so that as far as the chat's pace can tell no message is queued
        behind one; the steps go on in the chat's pauses. Each `next()`
        takes the step that the one before announced and announces the one after (its kind is the
        first word): a capture and a compile differ tenfold, so each kind is timed apart."""
        t0 = time.perf_counter()
        expected: dict[str, float] = {}
        done: dict[str, tuple[int, float]] = {}  # kind: steps, seconds
        while upcoming is not None:
            kind = upcoming.split(" ", 1)[0]
            while self._pending or not self._room_for_step(expected.get(kind, FIRST_STEP_GUESS_S)):
                await asyncio.sleep(PREPARE_POLL_S)
            try:
                after, took_s = await self.call(lambda: _timed(lambda: next(steps, None)), kind=f"prepare {kind}")
            except Exception as err:
                log.error("background warm-up stopped (%s); shapes not prepared stay as they were", err)
                return
            # the next step of this kind is taken to cost about what this one did: the first timing
            # replaces the guess; later a long one is halved away rather than forgotten; an instant one
            # (a poll) is instant
            old = expected.get(kind)
            expected[kind] = took_s if old is None or took_s < POLL_STEP_S else max(took_s, old / 2)
            count, seconds = done.get(kind, (0, 0.0))
            done[kind] = count + 1, seconds + took_s
            log.debug("prepared in the background: %s (%.2f s)", upcoming, took_s)
            upcoming = after
        log.info(
            "fast path ready: warm-up steps done in the background over %.1f s (%s)",
            time.perf_counter() - t0,
            ", ".join(f"{kind} {count} in {seconds:.1f} s" for kind, (count, seconds) in done.items()) or "none",
        )

    def _room_for_step(self, expected_s: float) -> bool:
        """Whether a warm-up step expected to take `expected_s` may start now: after a pause twice as long
        (and at least `IDLE_BEFORE_PREPARE_S`), or, while the chat comes at a steady pace, if
        `STEADY_MARGIN` times that fits before the next message is due (the last one's arrival plus the
        shortest of the recent gaps). Early in a pause, not late: with a message every 2 s and 0.7-s
        captures on an H200, steps started 1.4 s into each pause and most messages waited 0.3-0.7 s for
        one (docs/benchmarks.md)."""
        now = time.monotonic()
        if now - self._idle_since >= max(IDLE_BEFORE_PREPARE_S, QUIET_PER_STEP * expected_s):
            return True
        if len(self._arrivals) <= STEADY_GAPS:
            return False
        due = self._arrivals[-1] + min(b - a for a, b in pairwise(self._arrivals))
        return now + STEADY_MARGIN * expected_s <= due

    @property
    def running(self) -> bool:
        """The worker thread is alive: started and not yet stopped (or left behind by `close`)."""
        return self._thread.is_alive()

    @property
    def synthesizer(self) -> Synthesizer:
        if self._synth is None:
            raise RuntimeError("worker not started")
        return self._synth

    @contextlib.contextmanager
    def reserved(self) -> Iterator[None]:
        """Holds warm-up steps back while the caller readies work for this worker (a batch between the
        queue and `synthesize`): a step started in that moment would delay it."""
        self._hold()
        try:
            yield
        finally:
            self._release()

    def _hold(self) -> None:
        self._pending += 1

    def _release(self) -> None:
        self._pending -= 1
        self._idle_since = time.monotonic()

    async def synthesize(
        self, requests: list[SpeechRequest], rests_failed: Callable[[BaseException], None] | None = None
    ) -> list[Utterance | UserError]:
        """Synthesise requests in one batched call; each gets its utterance or its own error, in order.
        An engine failure of the whole call (e.g. GPU out of memory) raises.

        A long message comes back with its first part only, its rest (`Utterance.rest`) queued as the
        worker's next job: it is heard while the rest is synthesised. Cancelling every rest of the call
        (the outputs do, when they drop those messages) withdraws that job if it has not begun. That job
        failing as a whole is an engine failure too: each rest gets the error, and `rests_failed` is
        told once."""
        synth = self.synthesizer
        self._arrivals.append(time.monotonic())
        steps = synth.stream_batch([(r.text, r.voice) for r in requests])

        work = sum(len(r.text) + VOICE_WORK for r in requests)
        results, took = await self.call(lambda: _timed(lambda: next(steps)), kind="synthesis", work=work)
        heads = sum(isinstance(res, Head) for res in results)
        rests = iter(self._rests(steps, heads, work, rests_failed) if heads else [])
        out: list[Utterance | UserError] = []
        for req, res in zip(requests, results, strict=True):
            if isinstance(res, UserError):
                out.append(res)
            elif isinstance(res, Head):
                out.append(Utterance(request=req, pcm=res.pcm, synth_seconds=took, rest=next(rests)))
            else:
                out.append(Utterance(request=req, pcm=res, synth_seconds=took))
        return out

    def _rests(
        self,
        steps: Iterator[list[Pcm | Head | UserError]],
        n: int,
        work: float,
        failed: Callable[[BaseException], None] | None,
    ) -> list[asyncio.Future[Rest]]:
        """One future per streamed message for its rest, all from the batch's next step (one job, whose
        time is shared among them as the first step's is). The job is queued on the loop's next turn, so
        messages withdrawn as their first parts come back (their rests cancelled at once) never have their
        rests synthesised."""
        loop = asyncio.get_running_loop()
        rests: list[asyncio.Future[Rest]] = [loop.create_future() for _ in range(n)]
        job: asyncio.Future[tuple[list[Pcm | Head | UserError], float]] | None = None

        def deliver(done: asyncio.Future[tuple[list[Pcm | Head | UserError], float]]) -> None:
            err = None if done.cancelled() else done.exception()
            if err is not None and failed is not None:
                failed(err)
            for i, rest in enumerate(rests):
                if rest.done():
                    continue
                if done.cancelled():
                    rest.cancel()
                elif err is not None:
                    rest.set_exception(err)
                elif isinstance(value := done.result()[0][i], np.ndarray):
                    rest.set_result(Rest(value, done.result()[1] / n))
                else:
                    rest.set_exception(SynthesisError(f"the engine gave {type(value).__name__} for a rest"))

        self._hold()  # from here until the job ends no warm-up step may start: the rest is due next

        def start() -> None:
            nonlocal job
            if all(rest.cancelled() for rest in rests):
                self._release()
                return
            job = asyncio.ensure_future(
                self.call(lambda: _timed(lambda: next(steps)), kind="synthesis", work=work)
            )
            job.add_done_callback(deliver)
            job.add_done_callback(lambda _: self._release())

        def abandoned(_: asyncio.Future[Rest]) -> None:
            if job is not None and all(rest.cancelled() for rest in rests):
                job.cancel()

        loop.call_soon(start)
        for rest in rests:
            rest.add_done_callback(abandoned)
        return rests

    async def ping(self, poll_s: float = 0.05) -> None:
        """Completes once the worker thread shows progress: it ran a no-op, or it is alive inside a job
        that has not outlasted that job's bound. A job past its bound (a hung CUDA call) keeps this
        waiting, so the caller's timeout withholds the systemd watchdog; it completes again if that job
        ever ends. The no-op is withdrawn when not needed, so pings never pile up behind a long job. At
        most every TRIM_EVERY_S, the no-op also returns the heap's free memory to the system (bot/heap.py)."""
        now = time.monotonic()
        trim = now - self._trimmed_at >= TRIM_EVERY_S
        noop = asyncio.wrap_future(self._submit(release_free_heap if trim else _noop))
        try:
            while not noop.done():
                if self.clock.within_bound() and self._thread.is_alive():
                    return
                await asyncio.wait({noop}, timeout=poll_s)
            if trim:
                self._trimmed_at = now
        finally:
            noop.cancel()

    def overdue(self) -> str | None:
        """What is wrong with the job in flight, if it has outlasted its bound."""
        return self.clock.overdue()

    async def close(self, timeout: float = 2.0) -> bool:
        """Cancel the jobs still waiting, let the one in flight finish within `timeout`, then stop the thread.
        False if it was still busy: it is left behind (a daemon thread) and the process may exit anyway."""
        if self._preparing is not None:
            self._preparing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._preparing
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


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    """`fn()` and how long it took, timed inside the worker thread's job (so not the wait in its queue,
    nor whatever job runs before the event loop reads the answer)."""
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def _noop() -> None:
    """The ping's job: returns at once, proving the worker thread takes work."""
