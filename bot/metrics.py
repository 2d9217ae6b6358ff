"""Prometheus metrics for /metrics, through prometheus-client (the exposition format and histograms are
its job, not ours).

Counts that the daemon already keeps (messages, drops by reason, reconnects, underruns) are read at
scrape time from the daemon's one status snapshot (`bot/status.py`), so each number has one home; the
histograms are observed per utterance.
Each daemon has its own registry: two daemons in one process (tests) never collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.status import StatusSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _DaemonCollector(Collector):
    def __init__(self, snapshot: Callable[[], StatusSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        for name, doc, value in (
            (
                "ishowtts_messages_received",
                "Messages taken in (chat that reached the filters, the bot's own lines): each ends spoken, failed "
                "or dropped, or is unheard.",
                s.received,
            ),
            ("ishowtts_utterances_spoken", "Utterances the listener began hearing.", s.spoken),
            ("ishowtts_utterances_cut", "Utterances cut while heard (skip, clear, mute).", s.cut),
            ("ishowtts_utterances_failed", "Utterances the engine could not synthesise.", s.failed),
            (
                "ishowtts_messages_shortened",
                "Messages cut before synthesis to fit text.max_audio_s or the engine's text bound.",
                s.shortened,
            ),
            ("ishowtts_commands", "Moderator commands seen (done or refused).", s.commands),
            ("ishowtts_source_reconnects", "Times the chat connection was re-established.", s.reconnects),
            ("ishowtts_audio_underrun_seconds", "Silence inside promised audio (starvation).", s.underrun_seconds),
            ("ishowtts_audio_callback_errors", "Exceptions inside the audio callback.", s.audio_callback_errors),
            (
                "ishowtts_audio_device_underruns",
                "Underruns the audio server or driver reported (its latency too low for this machine).",
                s.device_underruns,
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        for name, doc, counts in (
            ("ishowtts_dropped", "Received messages not spoken, by reason.", s.drops),
            (
                "ishowtts_skipped",
                "Chat events never received as messages (the source could not use them; internal_error: a bug).",
                s.skipped,
            ),
        ):
            family = CounterMetricFamily(name, doc, labels=["reason"])
            for reason, count in sorted(counts.items()):
                family.add_metric([reason], count)
            yield family
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
        yield GaugeMetricFamily("ishowtts_mutes", "Viewers muted now.", value=len(s.mutes))
        yield GaugeMetricFamily("ishowtts_unheard", "Messages taken in and not heard yet, anywhere.", value=s.unheard)
        yield GaugeMetricFamily("ishowtts_speaking", "1 while a message is being heard.", value=s.speaking is not None)


class Metrics:
    def __init__(self, snapshot: Callable[[], StatusSnapshot]) -> None:
        self.registry = CollectorRegistry()
        self.synthesis_seconds = Histogram(
            "ishowtts_synthesis_seconds",
            "GPU time per utterance: its share of each batched call (a streamed one's first part and rest).",
            buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10),
            registry=self.registry,
        )
        self.chat_to_audio_seconds = Histogram(
            "ishowtts_chat_to_audio_seconds",
            "From a chat message's arrival to the listener hearing it begin (queueing included).",
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

    def observe(self, synth_seconds: float, audio_seconds: float) -> None:
        """One synthesised utterance, all its parts (chat-to-audio is observed when it is heard)."""
        self.synthesis_seconds.observe(synth_seconds)
        if audio_seconds > 0:
            self.real_time_factor.observe(synth_seconds / audio_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
