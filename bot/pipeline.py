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
from pathlib import Path
from typing import Any

from bot.commands import parse_command
from bot.config import Config, load_config
from bot.errors import SynthesisError, UserError
from bot.events import CONTROL_KINDS, ChatEvent, EventKind, Priority, Role, SpeechRequest, Utterance
from bot.filters import Dropped, MessageFilter
from bot.metrics import Metrics, Snapshot
from bot.moderation import Moderator, Replier
from bot.protocols import AudioSink, ChatSource, Synthesizer
from bot.sd_notify import Notifier, watchdog_interval
from bot.shutdown import bounded, cancel_tasks
from bot.speech.prepare import SpeechPreparer
from bot.speech_queue import QueueMode, SpeechQueue
from bot.state_store import StateStore
from bot.viewers import Viewers
from bot.worker import SynthesisWorker

log = logging.getLogger(__name__)

EXTEND_SECONDS = 30
STOP_BUDGET_S = 20.0
"""A stop (SIGTERM) ends the process within this, whatever the tasks are doing: below the unit's
TimeoutStopSec=30, after which systemd would SIGKILL (losing the summary, and any unsaved state)."""
STOP_GRACE_S = 12.0
"""Of that, the utterance in progress gets this long to be synthesised and handed to the output."""
TASKS_STOP_S = 2.0
WORKER_STOP_S = 2.0
"""After the grace, the GPU thread gets this long to finish its job (a model still loading is not waited for)."""
HEARTBEAT_S = 5.0
GPU_STALE_S = 30.0
"""/healthz fails when the GPU worker thread has shown no progress for this long: neither ran a no-op nor
was inside a job within that job's bound (a hung CUDA call; see `JobClock`)."""
SOURCE_DOWN_OK_S = 300.0
"""/healthz tolerates a chat that is reconnecting for this long."""
COMMAND_KINDS = frozenset({EventKind.DANMAKU, EventKind.SUPER_CHAT})
"""A command typed into a super chat (or a Twitch cheer) runs like one typed in chat (when its sender may
give it) and is never read out; the super chat itself is still thanked, without its text."""
RESTART_KEYS = ("model", "engine", "source", "output", "state_dir")
"""Settings a reload cannot swap in: they take effect at the next start."""


@dataclass
class Stats:
    received: int = 0
    spoken: int = 0
    failed: int = 0
    commands: int = 0
    shortened: int = 0
    """Spoken, but cut to fit `text.max_audio_s`."""
    audio_seconds: float = 0.0
    synth_seconds: float = 0.0
    first_audio_latency: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    """Chat event to audio handed to the output, most recent first-audio latencies (bounded: weeks of uptime)."""
    drops: Counter[str] = field(default_factory=Counter)
    recent_drops: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=50))
    """(unix time, reason, text) of the latest messages the filter did not speak, for the status page."""

    def summary(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in sorted(self.drops.items())) or "none"
        return (
            f"received {self.received}, spoken {self.spoken}, failed {self.failed}, commands {self.commands}, "
            f"shortened {self.shortened}, "
            f"audio {self.audio_seconds:.1f} s in {self.synth_seconds:.1f} s of synthesis; drops: {drops}"
        )


class Daemon:
    def __init__(
        self,
        cfg: Config,
        source: ChatSource,
        synthesizer_factory: Callable[[], Synthesizer],
        sink: AudioSink,
        stop_grace_s: float = STOP_GRACE_S,
        config_path: Path | None = None,
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
            cfg,
            self.store,
            self.store.load(),
            self.queue,
            sink,
            self.viewers,
            replier=source if isinstance(source, Replier) else None,
            status=self.status_line,
            owner_uid=lambda: int(getattr(source, "owner_uid", 0) or 0),
        )
        self.filter = MessageFilter(cfg.text, self.moderator.voice_for, self.moderator.is_muted)
        self.preparer: SpeechPreparer | None = None
        """Built at start (off the loop: it reads the voices' clips) and at each reload."""
        self.stop_grace_s = stop_grace_s
        self.config_path = config_path
        self.exit_code = 0
        self.ready = False
        self.gpu_answered_at = self.source_seen_at = time.monotonic()
        self._gpu_stalled = False
        self._failures_in_a_row = 0
        self._output_failures = 0
        """Utterances the output refused in a row (0 = it works)."""
        self._stopping = asyncio.Event()
        self._stop_by = 0.0
        """time.monotonic() by which a requested stop ends the process."""
        self._reload = asyncio.Event()
        self.notifier = Notifier()
        self.metrics = Metrics(self.snapshot)

    def request_stop(self, exit_code: int = 0) -> None:
        if not self._stopping.is_set():
            self.exit_code = exit_code
            self._stop_by = time.monotonic() + STOP_BUDGET_S
            log.info("stopping: finishing the utterance in progress, dropping %d queued", len(self.queue))
            self._stopping.set()

    async def run(self) -> int:
        """Run until the source is exhausted and the queue drained, or until stopped; the exit status.

        Whatever state the tasks are in, the shutdown ends within STOP_BUDGET_S of the stop request, with
        the final state save and the summary line."""
        loop = asyncio.get_running_loop()
        handlers: dict[signal.Signals, Callable[[], None]] = {
            signal.SIGINT: self.request_stop,
            signal.SIGTERM: self.request_stop,
            signal.SIGHUP: self._reload.set,
        }
        for sig, handler in handlers.items():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)
        stop = asyncio.create_task(self._stopping.wait(), name="stop")
        tasks: list[asyncio.Task[Any]] = [stop]
        try:
            starting = asyncio.create_task(self._start(tasks), name="starting")
            await asyncio.wait({starting, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():  # stopped while loading: not waiting for the model
                tasks.append(starting)
                return self.exit_code
            starting.result()  # a start-up failure (a model that does not load) is the CLI's one line
            tasks.append(asyncio.create_task(self._reloader(), name="reloader"))
            speaker = asyncio.create_task(self._speak(), name="speaker")
            tasks.append(speaker)
            await asyncio.wait({speaker, stop}, return_when=asyncio.FIRST_COMPLETED)
            if self._stopping.is_set():
                self.notifier.send("STOPPING=1")
                for task in tasks:
                    if task is not speaker:
                        task.cancel()  # reading stops at once; _shut_down waits for them
                self.queue.clear("shutting_down")
                self.queue.close()
                grace = min(self.stop_grace_s, self._stop_by - time.monotonic())
                done, _ = await asyncio.wait({speaker}, timeout=max(grace, 0.0))
                if not done:
                    log.warning("utterance still in progress after %.0f s; abandoning it", grace)
        finally:
            await self._shut_down(tasks)
            for sig in handlers:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        return self.exit_code

    async def _start(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Load the model, open the output, connect the chat: READY. Raced against a stop request (loading
        can take minutes on a Jetson; a stop then must not wait for it)."""
        extender = asyncio.create_task(self._extend_start_timeout(), name="start-timeout")
        try:
            self.notifier.send("STATUS=loading the model")
            voices = await self.worker.start(warm_up=self.cfg.engine.warmup)
            self.preparer = await asyncio.to_thread(SpeechPreparer.build, self.cfg, self._own_voice)
            await self.sink.start()
            tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
            reader = asyncio.create_task(self._read(), name="chat-reader")
            tasks.append(reader)
            await self._until_connected(reader)
        finally:
            extender.cancel()
        log.info("ready: voices %s, default %s", ", ".join(voices), self.moderator.default_voice)
        self.notifier.send("READY=1", f"STATUS=ready; voices {', '.join(voices)}")
        self.ready = True

    async def _shut_down(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Stop every task, save the state, release the output and the GPU thread, print the summary: each
        step bounded by what is left of STOP_BUDGET_S, and none able to skip the ones after it."""
        self.notifier.send("STOPPING=1")
        by = self._stop_by if self._stopping.is_set() else time.monotonic() + STOP_BUDGET_S
        await cancel_tasks(tasks, timeout=min(TASKS_STOP_S, by - time.monotonic()))
        for task in tasks:
            if not task.cancelled() and task.done() and (err := task.exception()) is not None:
                log.error("task %s failed: %s", task.get_name(), err, exc_info=err)
                self.exit_code = self.exit_code or 1
        # Every change was saved when made; this is belt and braces.
        await bounded("saving the state", self.store.save(self.moderator.state), by - time.monotonic() - 2.0)
        await bounded("closing the audio output", self.sink.close(), by - time.monotonic() - 1.0)
        await self.worker.close(timeout=min(WORKER_STOP_S, max(by - time.monotonic(), 0.1)))
        self.notifier.close()
        log.info("%s", self.stats.summary())

    async def _extend_start_timeout(self) -> None:
        """Loading the model and capturing graphs can outlast TimeoutStartSec on a Jetson: keep asking
        systemd for EXTEND_SECONDS more, every third of that, until READY."""
        while True:
            self.notifier.send(f"EXTEND_TIMEOUT_USEC={EXTEND_SECONDS * 1_000_000}")
            await asyncio.sleep(EXTEND_SECONDS / 3)

    async def _until_connected(self, reader: asyncio.Task[None]) -> None:
        """READY=1 means speaking is possible: the model is warm and the chat is connected."""
        if not self.source.connected:
            self.notifier.send("STATUS=model ready; connecting to the chat")
            log.info("model ready; waiting for the chat connection")
        while not self.source.connected and not reader.done() and not self._stopping.is_set():
            await asyncio.sleep(0.1)

    async def _heartbeat(self) -> None:
        """Every HEARTBEAT_S (or half WatchdogSec, if shorter) the GPU worker thread must show progress in
        time (`SynthesisWorker.ping`): that feeds /healthz and systemd's watchdog, so a hung CUDA call gets
        the process restarted while a long but healthy synthesis does not."""
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

    def health(self) -> list[str]:
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
        if self._output_failures:
            problems.append(f"audio output failing ({self._output_failures} utterance(s) dropped)")
        return problems

    async def _reloader(self) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            await self.reload()

    async def reload(self) -> bool:
        """SIGHUP: re-read and validate the whole config, then swap what can change while running (voices,
        text rules, queue and moderation settings), keeping the queue. A bad config changes nothing."""
        if self.config_path is None:
            log.warning("SIGHUP: no config file to reload")
            return False
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}", "STATUS=reloading")
        try:
            new = await asyncio.to_thread(load_config, self.config_path)
            fixed = [key for key in RESTART_KEYS if getattr(new, key) != getattr(self.cfg, key)]
            if new.voices != self.cfg.voices:
                synth, voices = self.worker.synthesizer, new.voices
                await self.worker.call(lambda: synth.set_voices(voices))
            preparer = await asyncio.to_thread(SpeechPreparer.build, new, self._own_voice)
        except UserError as err:
            log.error("reload rejected, the running config stays: %s", str(err).replace("\n", "; "))
            ok = False
        else:
            new = new.model_copy(update={key: getattr(self.cfg, key) for key in fixed})
            self._apply(new)
            self.preparer = preparer
            if fixed:
                log.warning("reloaded; %s changed but take effect only after a restart", ", ".join(fixed))
            else:
                log.info("reloaded %s: voices %s", self.config_path, ", ".join(v.id for v in new.voices))
            ok = True
        self.notifier.send("READY=1", f"STATUS={self.status_line()}")
        return ok

    def _apply(self, cfg: Config) -> None:
        self.cfg = cfg
        self.queue.cfg = cfg.queue
        self.moderator.reconfigure(cfg)
        seq = self.filter.seq
        self.filter = MessageFilter(cfg.text, self.moderator.voice_for, self.moderator.is_muted)
        self.filter.seq = seq
        voices = {v.id for v in cfg.voices}
        self.queue.revoice(voices, self.moderator.voice_for)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            received=self.stats.received,
            spoken=self.stats.spoken,
            failed=self.stats.failed,
            commands=self.stats.commands,
            queue_depth=len(self.queue),
            queue_mode=self.queue.mode.value,
            drops={**self.stats.drops, **{f"source {k}": v for k, v in getattr(self.source, "drops", {}).items()}},
            gpu_heartbeat_age_s=time.monotonic() - self.gpu_answered_at,
            source_connected=self.source.connected,
            reconnects=int(getattr(self.source, "connects", 0)),
            underrun_seconds=float(getattr(self.sink, "starved_seconds", 0.0)),
            audio_callback_errors=int(getattr(self.sink, "callback_errors", 0)),
            mutes=len(self.moderator.state.mutes),
        )

    def status(self) -> dict[str, Any]:
        """Everything the status page shows (/api/status)."""
        speaking = self.viewers.last_spoken
        return {
            "ready": self.ready,
            "problems": self.health(),
            "received": self.stats.received,
            "spoken": self.stats.spoken,
            "failed": self.stats.failed,
            "queued": len(self.queue),
            "mode": self.queue.mode.value,
            "paused": self.moderator.paused,
            "speaking": None if speaking is None else {"uname": speaking.uname, "text": speaking.text[:200]},
            "default_voice": self.moderator.default_voice,
            "voices": [v.id for v in self.cfg.voices],
            "mutes": [
                {"uid": m.uid, "name": m.name, "until": m.until, "by": m.by}
                for m in self.moderator.state.mutes.values()
            ],
            "drops": dict(self.stats.drops),
            "recent_drops": [{"time": t, "reason": r, "text": x} for t, r, x in reversed(self.stats.recent_drops)],
        }

    def queue_items(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "seq": r.seq,
                "text": r.text,
                "uid": r.event.uid,
                "uname": r.event.uname,
                "priority": r.priority.name.lower(),
                "waited_s": round(now - r.event.received_at, 1),
            }
            for r in self.queue
        ]

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
        try:
            async for event in self.source.events():
                self.stats.received += 1
                try:
                    await self._handle(event)
                except Exception:  # a bug met by one event costs that event, never the reader
                    self.stats.drops["internal_error"] += 1
                    n = self.stats.drops["internal_error"]
                    if n == 1 or n % 100 == 0:
                        log.exception("internal error handling a chat event (%d so far); skipped it", n)
        finally:
            self.queue.close()

    def _own_voice(self, uid: int) -> bool:
        return bool(uid) and uid in self.moderator.state.voices

    async def _prepare(self, batch: list[SpeechRequest]) -> list[SpeechRequest]:
        """What the engine is given (bot/speech/prepare.py), worked out in a thread beside the loop."""
        preparer = self.preparer
        if preparer is None:
            return batch
        prepared = await asyncio.to_thread(preparer.prepare_all, batch)
        for item in prepared:
            if item.shortened:
                self.stats.shortened += 1
                log.info("message #%d cut to fit text.max_audio_s: %s", item.request.seq, item.request.text[:60])
        return [item.request for item in prepared]

    async def _handle(self, event: ChatEvent) -> None:
        self.viewers.saw(event)
        if event.kind in CONTROL_KINDS:
            await self._control(event)
            return
        command = parse_command(event.text, self.cfg.moderation.prefixes) if event.kind in COMMAND_KINDS else None
        if command:
            self.stats.commands += 1  # never spoken, whoever sent it
            await self.moderator.handle(event, command)
            if event.kind != EventKind.SUPER_CHAT:
                return
        result = self.filter.thanks(event) if command else self.filter.apply(event)
        if isinstance(result, Dropped):
            self.stats.drops[result.reason] += 1
            self.stats.recent_drops.append((time.time(), result.reason, event.text[:80]))
            log.debug("dropped (%s): %r", result.reason, event.text[:80])
        else:
            self.queue.put(result)

    def _engine_failed(self, n: int) -> bool:
        """Count a failed call; too many in a row means a sick process: exit 2 so systemd starts a clean
        one. True when the daemon is stopping."""
        self.stats.failed += n
        self._failures_in_a_row += 1
        limit = self.cfg.engine.max_failures_in_a_row
        if limit and self._failures_in_a_row >= limit:
            log.error("%d engine failures in a row: exiting so that a clean process takes over", limit)
            self.request_stop(exit_code=2)
        return self._stopping.is_set()

    async def _control(self, event: ChatEvent) -> None:
        """The platform withdrew a message, banned a viewer or cleared the chat: what is still waiting is
        not spoken, and a ban is a mute that lasts (saved like a moderator's). A cleared chat drops the
        viewers' plain chat only: what was paid for, and the streamer's side, is still read."""
        if event.kind == EventKind.RECALL and event.msg_id:
            n = self.moderator.withdraw(lambda e: e.msg_id == event.msg_id, "recalled")
            log.info("message %s was withdrawn%s", event.msg_id, " before it was spoken" if n else "")
        elif event.kind == EventKind.RECALL and event.uid:  # the platform withdrew one viewer's chat
            n = self.moderator.withdraw(lambda e: e.uid == event.uid and e.kind == EventKind.DANMAKU, "recalled")
            log.info("uid %d's chat was withdrawn: %d waiting message(s) dropped", event.uid, n)
        elif event.kind == EventKind.CLEAR:
            n = self.moderator.withdraw(lambda e: e.role == Role.VIEWER and e.kind == EventKind.DANMAKU, "chat_cleared")
            log.info("the room's chat was cleared: %d waiting message(s) dropped", n)
        elif event.kind == EventKind.BAN and event.uid:
            verb = "timeout" if event.mute_s else "ban"
            try:
                n = await self.moderator.mute(event.uid, event.uname, event.mute_s, by=f"room {verb}")
                await self.store.audit(
                    {"uid": event.uid, "uname": event.uname, "verb": verb, "seconds": event.mute_s, "ok": True}
                )
            except OSError as err:
                log.error("could not save the room's %s of uid %d: %s", verb, event.uid, err)
                return
            how = (
                f"timed out {event.uname} (uid {event.uid}): muted for {event.mute_s:g} s"
                if event.mute_s
                else f"banned {event.uname} (uid {event.uid}): muted"
            )
            log.info("the room %s, %d waiting message(s) dropped", how, n)

    async def _speak(self) -> None:
        while (first := await self.queue.get()) is not None:
            batch = await self._prepare([first, *self.queue.take_ready(self.worker.synthesizer.max_batch - 1)])
            try:
                results = await self.worker.synthesize(batch)
            except SynthesisError as err:
                log.warning("%d utterance(s) dropped: %s", len(batch), err)
                if self._engine_failed(len(batch)):
                    return
                continue
            except Exception:
                log.exception("engine failure on %d utterance(s); going on", len(batch))
                if self._engine_failed(len(batch)):
                    return
                continue
            self._failures_in_a_row = 0
            for request, result in zip(batch, results, strict=True):
                if isinstance(result, UserError):
                    self.stats.failed += 1
                    log.warning("utterance #%d dropped: %s", request.seq, result)
                    continue
                log.info(
                    "speaking #%d in %s (%.1f s audio, synthesised in %.2f s%s): %s",
                    request.seq,
                    request.voice,
                    result.duration,
                    result.synth_seconds,
                    f" in a batch of {len(batch)}" if len(batch) > 1 else "",
                    request.text[:60],
                )
                self.viewers.handed_over.append(request)
                if not await self._play(result):
                    continue
                self.stats.spoken += 1
                self.stats.audio_seconds += result.duration
                self.stats.synth_seconds += result.synth_seconds / len(batch)
                latency = time.monotonic() - request.event.received_at
                self.stats.first_audio_latency.append(latency)
                self.metrics.observe(result.synth_seconds / len(batch), result.duration, latency)
            self.notifier.send(f"STATUS={self.status_line()}")

    async def _play(self, utterance: Utterance) -> bool:
        """Hand one utterance to the output. An output failure (the WAV folder replaced by a file, a full
        disk, EMFILE) drops this utterance only: counted as `output_failed`, logged at the first of a run
        of failures and when the output works again; the next utterance tries afresh (sinks reopen)."""
        try:
            await self.sink.play(utterance)
        except Exception as err:
            self.stats.drops["output_failed"] += 1
            self._output_failures += 1
            if self._output_failures == 1:
                log.error("audio output failed; dropping utterances until it works again: %s", err)
            return False
        if self._output_failures:
            log.info("audio output works again after %d dropped utterance(s)", self._output_failures)
            self._output_failures = 0
        return True
