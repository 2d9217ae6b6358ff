"""The daemon: chat source -> filter -> bounded speech queue -> GPU worker -> audio sink.

Two tasks on one event loop. The reader pulls chat, acts on moderator commands and platform bans at once
(control jumps ahead of data), filters the rest and enqueues without ever waiting on synthesis. The
speaker takes the most urgent request, has the GPU worker thread synthesise it and hands the audio to
the sink. A failed utterance is logged once and skipped; the daemon goes on.

The daemon ends when the source is exhausted and the queue has drained (replay), or on SIGINT/SIGTERM:
reading stops, the utterance in progress is finished within a bound, the rest is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.commands import parse_command
from bot.config import Config
from bot.errors import SynthesisError, UserError
from bot.events import ChatEvent, EventKind, Priority, Role, SpeechRequest
from bot.filters import Dropped, MessageFilter
from bot.moderation import Moderator
from bot.protocols import AudioSink, ChatSource, Synthesizer
from bot.sd_notify import Notifier, watchdog_interval
from bot.speech_queue import QueueMode, SpeechQueue
from bot.state_store import StateStore
from bot.viewers import Viewers
from bot.worker import SynthesisWorker

log = logging.getLogger(__name__)


@dataclass
class Stats:
    received: int = 0
    spoken: int = 0
    failed: int = 0
    commands: int = 0
    audio_seconds: float = 0.0
    synth_seconds: float = 0.0
    first_audio_latency: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    """Chat event to audio handed to the output, most recent first-audio latencies (bounded: weeks of uptime)."""
    drops: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in sorted(self.drops.items())) or "none"
        return (
            f"received {self.received}, spoken {self.spoken}, failed {self.failed}, commands {self.commands}, "
            f"audio {self.audio_seconds:.1f} s in {self.synth_seconds:.1f} s of synthesis; drops: {drops}"
        )


class Daemon:
    def __init__(
        self,
        cfg: Config,
        source: ChatSource,
        synthesizer_factory: Callable[[], Synthesizer],
        sink: AudioSink,
        stop_grace_s: float = 20.0,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.sink = sink
        self.stats = Stats()
        self.worker = SynthesisWorker(synthesizer_factory)
        self.queue = SpeechQueue(cfg.queue, self.stats.drops, on_mode=self._queue_mode)
        self.viewers = Viewers()
        self.store = StateStore(cfg.resolved_state_dir())
        self.store.prepare()
        self.moderator = Moderator(
            cfg, self.store, self.store.load(), self.queue, sink, self.viewers, status=self.status_line
        )
        self.filter = MessageFilter(cfg.text, self.moderator.voice_for, self.moderator.is_muted)
        self.stop_grace_s = stop_grace_s
        self._stopping = asyncio.Event()
        self.notifier = Notifier()

    def request_stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping: finishing the utterance in progress, dropping %d queued", len(self.queue))
            self._stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        try:
            voices = await self.worker.start(warm_up=self.cfg.engine.warmup)
            await self.sink.start()
            log.info("ready: voices %s, default %s", ", ".join(voices), self.cfg.default_voice_id)
            self.notifier.send("READY=1", f"STATUS=ready; voices {', '.join(voices)}")
            watchdog = asyncio.create_task(self._feed_watchdog(), name="watchdog")
            reader = asyncio.create_task(self._read(), name="chat-reader")
            speaker = asyncio.create_task(self._speak(), name="speaker")
            stop = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({speaker, stop}, return_when=asyncio.FIRST_COMPLETED)
            if self._stopping.is_set():
                self.notifier.send("STOPPING=1")
                reader.cancel()
                self.queue.clear("shutting_down")
                self.queue.close()
                try:
                    await asyncio.wait_for(asyncio.shield(speaker), self.stop_grace_s)
                except asyncio.TimeoutError:
                    log.warning("utterance still in progress after %.0f s; abandoning it", self.stop_grace_s)
                    speaker.cancel()
            stop.cancel()
            watchdog.cancel()
            for task in (reader, speaker, watchdog):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            self.notifier.send("STOPPING=1")
            await self.sink.close()
            await self.worker.close()
            self.notifier.close()
            log.info("%s", self.stats.summary())

    async def _feed_watchdog(self) -> None:
        """WATCHDOG=1 every half WatchdogSec, but only while the GPU worker thread answers a no-op in
        time: a hung CUDA call stops the pings and systemd restarts the process."""
        interval = watchdog_interval()
        if interval is None or not self.notifier.enabled:
            return
        while True:
            try:
                await asyncio.wait_for(self.worker.ping(), timeout=interval)
            except asyncio.TimeoutError:
                log.error("GPU worker did not answer within %.1f s; withholding the watchdog ping", interval)
                await asyncio.sleep(interval)
                continue
            self.notifier.send("WATCHDOG=1")
            await asyncio.sleep(interval)

    def status_line(self) -> str:
        return (
            f"spoken {self.stats.spoken}, queued {len(self.queue)} ({self.queue.mode.value}), "
            f"paused {'yes' if self.moderator.paused else 'no'}, muted {len(self.moderator.state.mutes)}, "
            f"voice {self.moderator.default_voice}, dropped {sum(self.stats.drops.values())}"
        )

    def _queue_mode(self, mode: QueueMode, first_in_flood: bool) -> None:
        notices = {
            QueueMode.NAMES_OFF: self.cfg.queue.names_off_notice,
            QueueMode.PAID_ONLY: self.cfg.queue.paid_only_notice,
        }
        if mode == QueueMode.NORMAL:
            log.info("queue back to normal (%d waiting): names are read again", len(self.queue))
            return
        if not first_in_flood:
            log.info("queue %s again (%d waiting)", mode.value, len(self.queue))
            return
        log.warning(
            "chat is outrunning speech (%d waiting): %s",
            len(self.queue),
            "names are no longer read" if mode == QueueMode.NAMES_OFF else "only paid messages are read",
        )
        if notice := notices.get(mode):
            # Not from inside put(): the queue is mid-update when it tells us.
            asyncio.get_running_loop().call_soon(self._announce, notice)

    def _announce(self, text: str) -> None:
        event = ChatEvent(text=text, kind=EventKind.SYSTEM, role=Role.OPERATOR)
        request = SpeechRequest(
            text=text,
            voice=self.moderator.default_voice,
            event=event,
            seq=self.filter.next_seq(),
            priority=Priority.URGENT,
        )
        self.queue.put(request)

    async def _read(self) -> None:
        prefixes = self.cfg.moderation.prefixes
        try:
            async for event in self.source.events():
                self.stats.received += 1
                self.viewers.saw(event)
                if event.kind in (EventKind.BAN, EventKind.RECALL):
                    await self._control(event)
                    continue
                if event.kind == EventKind.DANMAKU and (command := parse_command(event.text, prefixes)):
                    self.stats.commands += 1  # never spoken, whoever sent it
                    await self.moderator.handle(event, command)
                    continue
                result = self.filter.apply(event)
                if isinstance(result, Dropped):
                    self.stats.drops[result.reason] += 1
                    log.debug("dropped (%s): %r", result.reason, event.text[:80])
                else:
                    self.queue.put(result)
        finally:
            self.queue.close()

    async def _control(self, event: ChatEvent) -> None:
        """The platform withdrew a message or banned a viewer: what is still waiting is not spoken, and a
        ban is a mute that lasts (saved like a moderator's)."""
        if event.kind == EventKind.RECALL and event.msg_id:
            n = self.queue.remove(lambda r: r.event.msg_id == event.msg_id, "recalled")
            n += self.sink.discard(lambda u: u.request.event.msg_id == event.msg_id)
            log.info("message %s was withdrawn%s", event.msg_id, " before it was spoken" if n else "")
        elif event.kind == EventKind.BAN and event.uid:
            try:
                n = await self.moderator.mute(event.uid, event.uname, None, by="room ban")
                await self.store.audit({"uid": event.uid, "uname": event.uname, "verb": "ban", "ok": True})
            except OSError as err:
                log.error("could not save the room's ban of uid %d: %s", event.uid, err)
                return
            log.info("the room banned %s (uid %d): muted, %d waiting message(s) dropped", event.uname, event.uid, n)

    async def _speak(self) -> None:
        while (first := await self.queue.get()) is not None:
            batch = [first, *self.queue.take_ready(self.worker.synthesizer.max_batch - 1)]
            try:
                results = await self.worker.synthesize(batch)
            except SynthesisError as err:
                self.stats.failed += len(batch)
                log.warning("%d utterance(s) dropped: %s", len(batch), err)
                continue
            except Exception:
                self.stats.failed += len(batch)
                log.exception("engine failure on %d utterance(s); going on", len(batch))
                continue
            for request, result in zip(batch, results, strict=True):
                if isinstance(result, UserError):
                    self.stats.failed += 1
                    log.warning("utterance #%d dropped: %s", request.seq, result)
                    continue
                self.stats.spoken += 1
                self.stats.audio_seconds += result.duration
                self.stats.synth_seconds += result.synth_seconds / len(batch)
                self.stats.first_audio_latency.append(time.monotonic() - request.event.received_at)
                log.info(
                    "speaking #%d (%.1f s audio, synthesised in %.2f s%s): %s",
                    request.seq,
                    result.duration,
                    result.synth_seconds,
                    f" in a batch of {len(batch)}" if len(batch) > 1 else "",
                    request.text[:60],
                )
                self.viewers.handed_over.append(request)
                await self.sink.play(result)
            self.notifier.send(f"STATUS={self.status_line()}")
