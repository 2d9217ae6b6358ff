"""The daemon: chat source -> filter -> bounded speech queue -> GPU worker -> audio sink.

Two tasks on one event loop. The reader pulls chat, acts on moderator commands and platform actions at
once through the one control path (`bot/control.py`: control jumps ahead of data), filters the rest and
enqueues without ever waiting on synthesis. The speaker takes the most urgent requests, has the GPU worker
thread synthesise them and hands the audio to the output (a long message's first part as soon as it is
made, its rest following: bot/worker.py), which reports what is actually heard
(`bot/playback.py`). Every message ends in the ledger (`bot/ledger.py`) as spoken, failed or dropped. A
failed utterance is logged once and skipped; the daemon goes on.

This module wires the parts and runs the two tasks; each other job has its own room: signals
(`lifecycle`), systemd (`sd_notify`), /healthz and the watchdog (`health`), SIGHUP (`reload`), the one
status snapshot every rendering reads (`status`), flood notices (`flood_notices`).

The daemon ends when the source is exhausted and the queue has drained (replay), or on SIGINT/SIGTERM:
reading stops, the utterance in progress is finished within a bound, the rest is dropped and counted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.commands import parse_command
from bot.config import Config
from bot.control import Controller, InFlight
from bot.engine.chunking import MAX_SYNTH_CHARS
from bot.errors import SynthesisError, UserError
from bot.events import CONTROL_KINDS, ChatEvent, EventKind, Priority, Rest, Role, SpeechRequest, Utterance
from bot.filters import Dropped, MessageFilter
from bot.flood_notices import FloodNotices
from bot.health import Health
from bot.ledger import Ledger
from bot.lifecycle import signal_handlers
from bot.metrics import Metrics
from bot.moderation import Moderator, Replier
from bot.playback import Ending, Finished, Hearing, PlaybackEvent, PlaybackListener, Started, Unplayed
from bot.protocols import AudioSink, ChatSource, LiveSource, Synthesizer
from bot.reload import Reloader
from bot.sd_notify import Notifier, extend_start_timeout
from bot.shutdown import bounded, cancel_tasks
from bot.sinks.streamed import drop_rest
from bot.speech.prepare import SpeechPreparer
from bot.speech_queue import SpeechQueue
from bot.state_store import StateStore
from bot.status import Mute, Speaking, StatusSnapshot
from bot.text import clean_text
from bot.viewers import Viewers
from bot.worker import SynthesisWorker

log = logging.getLogger(__name__)

COMMAND_KINDS = frozenset({EventKind.DANMAKU, EventKind.SUPER_CHAT})
"""A command typed into a super chat (or a Twitch cheer) runs like one typed in chat (when its sender may
give it) and is never read out; the super chat itself is still thanked, without its text."""

STOP_BUDGET_S = 20.0
"""A stop (SIGTERM) ends the process within this, whatever the tasks are doing: below the unit's
TimeoutStopSec=30, after which systemd would SIGKILL (losing the summary, and any unsaved state)."""
STOP_GRACE_S = 12.0
"""Of that, the utterance in progress gets this long to be synthesised and handed to the output."""
TASKS_STOP_S = 2.0
WORKER_STOP_S = 2.0
"""After the grace, the GPU thread gets this long to finish its job (a model still loading is not waited for)."""


@dataclass
class Stats:
    """What the ledger does not hold: how much audio, how fast, and the latest drops for the status page."""

    shortened: int = 0
    """Cut before synthesis to fit `text.max_audio_s` (or the engine's bound on one text)."""
    internal_errors: int = 0
    """Chat events a bug made the reader skip (reported with the source's skips as `internal_error`: they
    were never received)."""
    audio_seconds: float = 0.0
    synth_seconds: float = 0.0
    first_audio_latency: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    """Chat event to the listener hearing it begin, most recent latencies (bounded: weeks of uptime)."""
    recent_drops: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=50))
    """(unix time, reason, text) of the latest messages the filter did not speak, for the status page."""


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
        self.ledger = Ledger()
        self.worker = SynthesisWorker(synthesizer_factory)
        self.flood = FloodNotices(lambda: self.cfg.queue, self._announce)
        self.queue = SpeechQueue(cfg.queue, on_mode=self.flood.on_mode, on_drop=self.ledger.record_dropped)
        self.flood.depth = self.queue.__len__
        self.viewers = Viewers()
        self.hearing = Hearing()
        self.in_flight = InFlight()
        self.playback_listeners: list[PlaybackListener] = []
        """Told every playback event after the daemon has taken it in (the captions overlay)."""
        sink.on_playback = self._on_playback
        self.controller = Controller(self.queue, self.in_flight, sink, self.hearing, self.ledger)
        self.store = StateStore(cfg.resolved_state_dir())
        self.store.prepare()
        self.moderator = Moderator(
            cfg,
            self.store,
            self.store.load(),
            self.controller,
            self.viewers,
            replier=source if isinstance(source, Replier) else None,
            status=self.status_line,
            owner_uid=lambda: int(getattr(source, "owner_uid", 0) or 0),
        )
        self.filter = MessageFilter(cfg.text, self.moderator.voice_for, self.moderator.is_muted)
        self.preparer: SpeechPreparer | None = None
        """Built at start (off the loop: it reads the voices' clips) and at each reload."""
        self.stop_grace_s = stop_grace_s
        self.exit_code = 0
        self._failures_in_a_row = 0
        self._stopping = asyncio.Event()
        self._stop_by = 0.0
        """time.monotonic() by which a requested stop ends the process."""
        self.notifier = Notifier()
        self.health = Health(self.worker, source, sink, self.notifier)
        self.reloader = Reloader(
            config_path,
            lambda: self.cfg,
            self._build_preparer,
            self._apply,
            self.worker,
            self.notifier,
            self.status_line,
        )
        self.metrics = Metrics(self.snapshot)

    @property
    def ready(self) -> bool:
        return self.health.ready

    def request_stop(self, exit_code: int = 0) -> None:
        if not self._stopping.is_set():
            self.exit_code = exit_code
            self._stop_by = time.monotonic() + STOP_BUDGET_S
            log.info("stopping: finishing the utterance in progress, dropping %d queued", len(self.queue))
            self._stopping.set()

    async def reload(self) -> bool:
        return await self.reloader.reload()

    async def run(self) -> int:
        """Run until the source is exhausted and the queue drained, or until stopped; the exit status.

        Whatever state the tasks are in, the shutdown ends within STOP_BUDGET_S of the stop request, with
        the final state save and the summary line."""
        with signal_handlers(stop=self.request_stop, reload=self.reloader.requested.set):
            stop = asyncio.create_task(self._stopping.wait(), name="stop")
            tasks: list[asyncio.Task[Any]] = [stop]
            try:
                starting = asyncio.create_task(self._start(tasks), name="starting")
                await asyncio.wait({starting, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not starting.done():  # stopped while loading: not waiting for the model
                    tasks.append(starting)
                    return self.exit_code
                starting.result()  # a start-up failure (a model that does not load) is the CLI's one line
                tasks.append(asyncio.create_task(self.reloader.serve(), name="reloader"))
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
        return self.exit_code

    async def _start(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Load the model, open the output, connect the chat: READY. Raced against a stop request (loading
        can take minutes on a Jetson; a stop then must not wait for it)."""
        extender = asyncio.create_task(extend_start_timeout(self.notifier), name="start-timeout")
        try:
            self.notifier.send("STATUS=loading the model")
            # The speech stage (text grammars, the voices' clips) loads on its own thread meanwhile.
            preparing = asyncio.create_task(self._build_preparer(self.cfg), name="speech-stage")
            try:
                voices = await self.worker.start(warm_up=self.cfg.engine.warmup)
            except BaseException:  # the model's failure (or a stop) is the one raised
                await _abandon(preparing, "loading the speech stage")
                raise
            self.preparer = await preparing
            await self.sink.start()
            tasks.append(asyncio.create_task(self.health.heartbeat(), name="heartbeat"))
            reader = asyncio.create_task(self._read(), name="chat-reader")
            tasks.append(reader)
            await self._until_connected(reader)
        finally:
            await _abandon(extender, "extending the start timeout")
        self._say_ready(voices)

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
        for request in self.in_flight.withdraw(lambda r: True):  # a batch abandoned at shutdown
            self.ledger.record_dropped(request, "shutting_down")
        # Every change was saved when made; this is belt and braces.
        await bounded("saving the state", self.store.save(self.moderator.state), by - time.monotonic() - 2.0)
        await bounded("closing the audio output", self.sink.close(), by - time.monotonic() - 1.0)
        await self.worker.close(timeout=min(WORKER_STOP_S, max(by - time.monotonic(), 0.1)))
        self.notifier.close()
        log.info("%s", self.snapshot().summary())

    async def _until_connected(self, reader: asyncio.Task[None]) -> None:
        """READY=1 means speaking is possible: the model is warm and the chat is connected."""
        if not self.source.connected:
            self.notifier.send("STATUS=model ready; connecting to the chat")
            log.info("model ready; waiting for the chat connection")
        while not self.source.connected and not reader.done() and not self._stopping.is_set():
            await asyncio.sleep(0.1)

    def _say_ready(self, voices: list[str]) -> None:
        """READY, and what the operator must know: a saved `#tts voice` overrides the config's default, and
        an output that cannot play means nobody hears anything (ready, but degraded)."""
        default, configured = self.moderator.default_voice, self.cfg.default_voice_id
        voice = f"default {default}"
        if default != configured:
            voice += f" (saved by a moderator's voice command; the config says {configured})"
        if self.sink.alive:
            log.info("ready: voices %s, %s", ", ".join(voices), voice)
            self.notifier.send("READY=1", f"STATUS=ready; voices {', '.join(voices)}")
        else:
            log.warning("ready but degraded: the audio output cannot play (nobody hears speech); %s", voice)
            self.notifier.send("READY=1", "STATUS=degraded: the audio output cannot play")
        self.health.ready = True

    async def _build_preparer(self, cfg: Config) -> SpeechPreparer:
        """The speech stage for `cfg` (bot/speech/prepare.py), built off the loop: it reads the voices' clips."""
        return await asyncio.to_thread(SpeechPreparer.build, cfg, self._own_voice)

    def _own_voice(self, uid: int) -> bool:
        return bool(uid) and uid in self.moderator.state.voices

    def _apply(self, cfg: Config, preparer: SpeechPreparer) -> None:
        """A reloaded config, validated: every part that can take it now does, keeping what waits."""
        self.cfg = cfg
        self.preparer = preparer
        self.queue.cfg = cfg.queue
        self.sink.stale_after_s = cfg.queue.max_age_s
        self.moderator.reconfigure(cfg)
        seq = self.filter.seq
        self.filter = MessageFilter(cfg.text, self.moderator.voice_for, self.moderator.is_muted)
        self.filter.seq = seq
        voices = {v.id for v in cfg.voices}
        self.queue.revoice(voices, self.moderator.voice_for)

    def snapshot(self) -> StatusSnapshot:
        """The one reading of every counter: status page, /api/status, /metrics and the log lines."""
        speaking = self.hearing.current
        live = self.source if isinstance(self.source, LiveSource) else None
        ledger = self.ledger
        return StatusSnapshot(
            ready=self.health.ready,
            problems=tuple(self.health.problems()),
            received=ledger.received,
            spoken=ledger.spoken,
            failed=ledger.failed,
            cut=ledger.cut,
            commands=self.moderator.commands,
            unheard=ledger.open,
            queue_depth=len(self.queue),
            queue_mode=self.queue.mode.value,
            paused=self.moderator.paused,
            speaking=None if speaking is None else Speaking(speaking.seq, speaking.event.uname, speaking.text),
            default_voice=self.moderator.default_voice,
            voices=tuple(v.id for v in self.cfg.voices),
            mutes=tuple(Mute(m.uid, m.name, m.until, m.by) for m in self.moderator.state.mutes.values()),
            drops=dict(ledger.drops),
            skipped={
                **(dict(live.drops) if live else {}),
                **({"internal_error": self.stats.internal_errors} if self.stats.internal_errors else {}),
            },
            recent_drops=tuple(self.stats.recent_drops),
            gpu_heartbeat_age_s=self.health.gpu_heartbeat_age_s,
            source_connected=self.source.connected,
            reconnects=live.connects if live else 0,
            underrun_seconds=self.sink.starved_seconds,
            device_underruns=self.sink.device_underruns,
            audio_callback_errors=self.sink.callback_errors,
            shortened=self.stats.shortened,
            audio_seconds=self.stats.audio_seconds,
            synth_seconds=self.stats.synth_seconds,
        )

    def status_line(self) -> str:
        return self.snapshot().line()

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

    def _announce(self, text: str) -> None:
        text = clean_text(text, MAX_SYNTH_CHARS)  # the bot's own line enters speech here (bot/text.py)
        event = ChatEvent(text=text, kind=EventKind.SYSTEM, role=Role.OPERATOR)
        request = SpeechRequest(
            text=text,
            voice=self.moderator.default_voice,
            event=event,
            seq=self.filter.next_seq(),
            priority=Priority.URGENT,
        )
        self.enqueue(request)

    def enqueue(self, request: SpeechRequest) -> bool:
        """A message enters the pipeline: into the ledger, then the queue (which may drop it, counted)."""
        self.ledger.take(request)
        return self.queue.put(request)

    async def _read(self) -> None:
        try:
            async for event in self.source.events():
                try:
                    await self._handle(event)
                except Exception:  # a bug met by one event costs that event, never the reader
                    self.stats.internal_errors += 1
                    n = self.stats.internal_errors
                    if n == 1 or n % 100 == 0:
                        log.exception("internal error handling a chat event (%d so far); skipped it", n)
        finally:
            self.queue.close()

    async def _handle(self, event: ChatEvent) -> None:
        self.viewers.saw(event)
        if event.kind in CONTROL_KINDS:
            await self.moderator.platform(event)
            return
        command = parse_command(event.text, self.cfg.moderation.prefixes) if event.kind in COMMAND_KINDS else None
        if command:
            await self.moderator.handle(event, command)  # never spoken, whoever sent it
            if event.kind != EventKind.SUPER_CHAT:
                return
        result = self.filter.thanks(event) if command else self.filter.apply(event)
        if isinstance(result, Dropped):
            self.ledger.turn_away(result.reason)
            self.stats.recent_drops.append((time.time(), result.reason, event.text[:80]))
            log.debug("dropped (%s): %r", result.reason, event.text[:80])
        else:
            self.enqueue(result)

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

    def _engine_failed(self, batch: list[SpeechRequest]) -> bool:
        """A failed call: its messages failed, and one more engine failure in a row. True when the daemon
        is stopping."""
        for request in batch:
            if self.in_flight.release(request):
                self.ledger.record_failed(request)
        self._count_engine_failure()
        return self._stopping.is_set()

    def _rests_failed(self, err: BaseException) -> None:
        """The rests of a batch's long messages failed (the output ends each where its first part does):
        an engine failure in a row like a failed first part. A rest that works resets nothing: its first
        part's success already did, and a later call's failure must not be forgotten."""
        self._count_engine_failure()

    def _count_engine_failure(self) -> None:
        """Too many failures in a row means a sick process: exit 2 so systemd starts a clean one."""
        self._failures_in_a_row += 1
        limit = self.cfg.engine.max_failures_in_a_row
        if limit and self._failures_in_a_row >= limit:
            log.error("%d engine failures in a row: exiting so that a clean process takes over", limit)
            self.request_stop(exit_code=2)

    def _on_playback(self, event: PlaybackEvent) -> None:
        """The output's reports, in order: the ledger, who is being heard, latency, then the listeners."""
        self.hearing.update(event)
        request = event.request
        if isinstance(event, Started):
            self.ledger.record_spoken(request)
            latency = event.at - request.event.received_at
            self.stats.first_audio_latency.append(latency)
            self.metrics.chat_to_audio_seconds.observe(latency)
            log.info(
                "speaking #%d in %s (heard %.2f s after it arrived): %s",
                request.seq,
                request.voice,
                latency,
                request.text[:60],
            )
        elif isinstance(event, Finished):
            if event.ending == Ending.CUT:
                self.ledger.cut += 1
        elif isinstance(event, Unplayed):
            self.ledger.record_dropped(request, event.reason)
        for listener in self.playback_listeners:
            listener(event)

    async def _speak(self) -> None:
        while (first := await self.queue.get()) is not None:
            batch = [first, *self.queue.take_ready(self.worker.synthesizer.max_batch - 1)]
            self.in_flight.hold(batch)  # withdrawable from here: while prepared, synthesised, handed over
            with self.worker.reserved():  # no warm-up step starts while the batch is readied
                batch = await self._prepare(batch)
            try:
                results = await self.worker.synthesize(batch, rests_failed=self._rests_failed)
            except SynthesisError as err:
                log.warning("%d utterance(s) dropped: %s", len(batch), err)
                if self._engine_failed(batch):
                    return
                continue
            except Exception:
                log.exception("engine failure on %d utterance(s); going on", len(batch))
                if self._engine_failed(batch):
                    return
                continue
            self._failures_in_a_row = 0
            for request, result in zip(batch, results, strict=True):
                if not self.in_flight.release(request):
                    log.info("utterance #%d was withdrawn while it was synthesised; not played", request.seq)
                    if not isinstance(result, UserError):
                        drop_rest(result)
                    continue
                if isinstance(result, UserError):
                    self.ledger.record_failed(request)
                    log.warning("utterance #%d dropped: %s", request.seq, result)
                    continue
                work_s = result.synth_seconds / len(batch)
                self.stats.audio_seconds += result.duration
                self.stats.synth_seconds += work_s
                if result.rest is None:
                    self.metrics.observe(work_s, result.duration)
                else:
                    result.rest.add_done_callback(functools.partial(self._count_rest, work_s, result.duration))
                log.debug(
                    "synthesised #%d (%.1f s audio in %.2f s%s)",
                    request.seq,
                    result.duration,
                    result.synth_seconds,
                    f" in a batch of {len(batch)}" if len(batch) > 1 else "",
                )
                await self._play(result)  # the output holds it from here (withdrawable there) and reports
            self.notifier.send(f"STATUS={self.status_line()}")

    def _count_rest(self, work_s: float, audio_s: float, rest: asyncio.Future[Rest]) -> None:
        """A streamed message's throughput: its rest's audio and work (if it came) with its first part's."""
        if not rest.cancelled() and rest.exception() is None:
            part = rest.result()
            self.stats.audio_seconds += part.duration
            self.stats.synth_seconds += part.synth_seconds
            work_s, audio_s = work_s + part.synth_seconds, audio_s + part.duration
        self.metrics.observe(work_s, audio_s)

    async def _play(self, utterance: Utterance) -> None:
        """Hand one utterance to the output. An output failure (the WAV folder replaced by a file, a full
        disk, EMFILE) drops this utterance only: counted as `output_failed`, logged at the first of a run
        of failures and when the output works again; the next utterance tries afresh (sinks reopen)."""
        try:
            await self.sink.play(utterance)
        except Exception as err:
            drop_rest(utterance)
            if self.ledger.is_open(utterance.request):  # not reported by the output: settled here
                self.ledger.record_dropped(utterance.request, "output_failed")
            self.health.output_failures += 1
            if self.health.output_failures == 1:
                log.error("audio output failed; dropping utterances until it works again: %s", err)
            return
        if self.health.output_failures:
            log.info("audio output works again after %d dropped utterance(s)", self.health.output_failures)
            self.health.output_failures = 0


async def _abandon(task: asyncio.Task[Any], what: str) -> None:
    """A start-up task no longer wanted (the start failed elsewhere, was stopped, or is done): cancelled,
    waited for, and its own failure, if it had one, logged in one line. Never left for asyncio to report
    at exit with a traceback ("Task exception was never retrieved")."""
    try:
        await cancel_tasks([task], timeout=TASKS_STOP_S)
    finally:  # also when a stop cancels the wait
        if task.done() and not task.cancelled() and (err := task.exception()) is not None:
            log.error("%s failed too: %s", what, err)
