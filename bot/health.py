"""Is the daemon well: what /healthz answers and what feeds systemd's watchdog.

The GPU worker thread must run a no-op in time, every HEARTBEAT_S (or half WatchdogSec, if shorter): a
hung CUDA call makes that wait too, so the watchdog is starved and systemd restarts the process. The chat
may be away for a while (it reconnects), the audio output may be away while it is reopened.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.protocols import AudioSink, ChatSource
from bot.sd_notify import Notifier, watchdog_interval
from bot.worker import SynthesisWorker

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
GPU_STALE_S = 30.0
"""/healthz fails when the GPU worker thread has shown no progress for this long: neither ran a no-op nor
was inside a job within that job's bound (a hung CUDA call; see `JobClock`)."""
SOURCE_DOWN_OK_S = 300.0
"""/healthz tolerates a chat that is reconnecting for this long."""


class Health:
    def __init__(self, worker: SynthesisWorker, source: ChatSource, sink: AudioSink, notifier: Notifier) -> None:
        self.worker = worker
        self.source = source
        self.sink = sink
        self.notifier = notifier
        self.ready = False
        self.output_failures = 0
        """Utterances the output refused in a row (the daemon counts them)."""
        self.gpu_answered_at = self.source_seen_at = time.monotonic()
        self._gpu_stalled = False

    async def heartbeat(self) -> None:
        interval = watchdog_interval()
        period = min(interval, HEARTBEAT_S) if interval else HEARTBEAT_S
        while True:
            # Not asyncio.wait_for: on 3.11 it returns the result instead of raising when the ping completes
            # as this task is cancelled, and the heartbeat would swallow its own cancellation.
            ping = asyncio.ensure_future(self.worker.ping())
            try:
                done, _ = await asyncio.wait({ping}, timeout=period)
            finally:
                ping.cancel()
            if ping not in done or ping.cancelled() or ping.exception() is not None:
                if not self._gpu_stalled:
                    why = self.worker.overdue() or f"no answer within {period:.1f} s"
                    log.error("GPU worker stalled (%s); withholding the watchdog ping", why)
                self._gpu_stalled = True
            else:
                self._gpu_stalled = False
                self.gpu_answered_at = time.monotonic()
                if interval is not None:
                    self.notifier.send("WATCHDOG=1")
            if self.source.connected:
                self.source_seen_at = time.monotonic()
            await asyncio.sleep(period)

    @property
    def gpu_heartbeat_age_s(self) -> float:
        return time.monotonic() - self.gpu_answered_at

    def problems(self) -> list[str]:
        """What is wrong, for /healthz (empty = healthy)."""
        now = time.monotonic()
        problems = []
        if not self.ready:
            problems.append("starting")
        if now - self.gpu_answered_at > GPU_STALE_S:
            problems.append(f"GPU worker silent for {now - self.gpu_answered_at:.0f} s")
        if not self.source.connected and now - self.source_seen_at > SOURCE_DOWN_OK_S:
            problems.append(f"chat disconnected for {now - self.source_seen_at:.0f} s")
        if not self.sink.alive:
            problems.append("audio output down")
        if self.output_failures:
            problems.append(f"audio output failing ({self.output_failures} utterance(s) dropped)")
        return problems
