"""Prometheus metrics for /metrics, through prometheus-client (the exposition format and histograms are
its job, not ours).

Counts that the daemon already keeps (messages, drops by reason, reconnects, underruns) are read at
scrape time by a collector, so each number has one home; the histograms are observed per utterance.
Each daemon has its own registry: two daemons in one process (tests) never collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Snapshot:
    received: int = 0
    spoken: int = 0
    failed: int = 0
    commands: int = 0
    queue_depth: int = 0
    queue_mode: str = "normal"
    drops: dict[str, int] = field(default_factory=dict)
    gpu_heartbeat_age_s: float = 0.0
    source_connected: bool = True
    reconnects: int = 0
    underrun_seconds: float = 0.0
    audio_callback_errors: int = 0
    mutes: int = 0


class _DaemonCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        for name, doc, value in (
            ("ishowtts_messages_received", "Chat events read from the source.", s.received),
            ("ishowtts_utterances_spoken", "Utterances handed to the audio output.", s.spoken),
            ("ishowtts_utterances_failed", "Utterances the engine could not synthesise.", s.failed),
            ("ishowtts_commands", "Moderator commands seen (done or refused).", s.commands),
            ("ishowtts_source_reconnects", "Times the chat connection was re-established.", s.reconnects),
            ("ishowtts_audio_underrun_seconds", "Silence inside promised audio (starvation).", s.underrun_seconds),
            ("ishowtts_audio_callback_errors", "Exceptions inside the audio callback.", s.audio_callback_errors),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        drops = CounterMetricFamily("ishowtts_dropped", "Messages not spoken, by reason.", labels=["reason"])
        for reason, count in sorted(s.drops.items()):
            drops.add_metric([reason], count)
        yield drops
        yield GaugeMetricFamily("ishowtts_queue_depth", "Messages waiting to be synthesised.", value=s.queue_depth)
        mode = GaugeMetricFamily("ishowtts_queue_mode", "1 for the queue's current mode.", labels=["mode"])
        for name in ("normal", "names_off", "paid_only"):
            mode.add_metric([name], 1.0 if name == s.queue_mode else 0.0)
        yield mode
        yield GaugeMetricFamily(
            "ishowtts_gpu_heartbeat_age_seconds",
            "Since the GPU worker thread last answered.",
            value=s.gpu_heartbeat_age_s,
        )
        yield GaugeMetricFamily("ishowtts_source_connected", "1 while the chat is connected.", value=s.source_connected)
        yield GaugeMetricFamily("ishowtts_mutes", "Viewers muted now.", value=s.mutes)


class Metrics:
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.registry = CollectorRegistry()
        self.synthesis_seconds = Histogram(
            "ishowtts_synthesis_seconds",
            "GPU time per synthesis call (one batch).",
            buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10),
            registry=self.registry,
        )
        self.chat_to_audio_seconds = Histogram(
            "ishowtts_chat_to_audio_seconds",
            "From a chat message's arrival to its audio handed to the output (queueing included).",
            buckets=(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.real_time_factor = Histogram(
            "ishowtts_real_time_factor",
            "Synthesis time over audio duration, per utterance (below 1 = faster than real time).",
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
            registry=self.registry,
        )
        self.registry.register(_DaemonCollector(snapshot))

    def observe(self, synth_seconds: float, audio_seconds: float, chat_to_audio_seconds: float) -> None:
        self.synthesis_seconds.observe(synth_seconds)
        self.chat_to_audio_seconds.observe(chat_to_audio_seconds)
        if audio_seconds > 0:
            self.real_time_factor.observe(synth_seconds / audio_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
