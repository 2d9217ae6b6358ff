"""One snapshot of the daemon, rendered four ways: the status page and /api/status, /metrics, the
`STATUS=` line (and `#tts status`), and the summary logged at exit. Each number is read once, from its one
home (the ledger, the queue, the output, the source), so no two renderings can disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Speaking:
    seq: int
    uname: str
    text: str


@dataclass(frozen=True)
class Mute:
    uid: int
    name: str
    until: float | None
    by: str


@dataclass(frozen=True)
class StatusSnapshot:
    ready: bool = False
    problems: tuple[str, ...] = ()
    received: int = 0
    """Messages taken in: chat that reached the filters, and the bot's own lines. Each ends as spoken,
    failed or one of `drops`, or is still `unheard`: received = spoken + failed + Σ drops + unheard."""
    spoken: int = 0
    failed: int = 0
    cut: int = 0
    commands: int = 0
    unheard: int = 0
    """Taken in and not heard yet: waiting, being synthesised, or held by the output (the ledger's open
    messages, so a message handed between two places is never missed)."""
    queue_depth: int = 0
    queue_mode: str = "normal"
    paused: bool = False
    speaking: Speaking | None = None
    default_voice: str = ""
    voices: tuple[str, ...] = ()
    mutes: tuple[Mute, ...] = ()
    drops: dict[str, int] = field(default_factory=dict)
    """Received messages not spoken, by reason."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Chat events never received as messages, by reason: what the source could not use (malformed,
    overflow, duplicates) and events whose handling met a bug (`internal_error`). Not in `received`."""
    recent_drops: tuple[tuple[float, str, str], ...] = ()
    gpu_heartbeat_age_s: float = 0.0
    source_connected: bool = True
    reconnects: int = 0
    underrun_seconds: float = 0.0
    device_underruns: int = 0
    audio_callback_errors: int = 0
    shortened: int = 0
    """Cut before synthesis to fit `text.max_audio_s` (or the engine's bound on one text)."""
    audio_seconds: float = 0.0
    synth_seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """What the status page shows (/api/status)."""
        speaking = self.speaking
        return {
            "ready": self.ready,
            "problems": list(self.problems),
            "received": self.received,
            "spoken": self.spoken,
            "failed": self.failed,
            "cut": self.cut,
            "commands": self.commands,
            "queued": self.unheard,
            "mode": self.queue_mode,
            "paused": self.paused,
            "speaking": None
            if speaking is None
            else {"seq": speaking.seq, "uname": speaking.uname, "text": speaking.text[:200]},
            "default_voice": self.default_voice,
            "voices": list(self.voices),
            "mutes": [{"uid": m.uid, "name": m.name, "until": m.until, "by": m.by} for m in self.mutes],
            "shortened": self.shortened,
            "drops": dict(self.drops),
            "skipped": dict(self.skipped),
            "recent_drops": [{"time": t, "reason": r, "text": x} for t, r, x in reversed(self.recent_drops)],
        }

    def line(self) -> str:
        """One line: systemd's STATUS= and the answer to `#tts status`."""
        return (
            f"spoken {self.spoken}, queued {self.unheard} ({self.queue_mode}), "
            f"paused {'yes' if self.paused else 'no'}, muted {len(self.mutes)}, "
            f"voice {self.default_voice}, dropped {sum(self.drops.values())}"
        )

    def summary(self) -> str:
        """Logged when the daemon ends."""
        drops = ", ".join(f"{k}={v}" for k, v in sorted(self.drops.items())) or "none"
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items())) or "none"
        return (
            f"received {self.received}, spoken {self.spoken}, failed {self.failed}, cut while heard {self.cut}, "
            f"commands {self.commands}, shortened {self.shortened}, audio {self.audio_seconds:.1f} s in "
            f"{self.synth_seconds:.1f} s of synthesis; drops: {drops}; skipped before the filters: {skipped}"
        )
