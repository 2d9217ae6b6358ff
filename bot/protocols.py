"""The seams of the pipeline. Each hardware or service dependency sits behind one of these, with a fake
beside the real implementation, so stages can be swapped (Bilibili for replay, a sound card for WAV)
without rewiring the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Protocol, runtime_checkable

from bot.config import VoiceConfig
from bot.errors import UserError
from bot.events import ChatEvent, Head, Pcm, SpeechRequest, Utterance
from bot.playback import PlaybackListener


@runtime_checkable
class ChatSource(Protocol):
    """Yields chat events until the source is exhausted (replay) or cancelled (live)."""

    def events(self) -> AsyncIterator[ChatEvent]: ...

    @property
    def connected(self) -> bool:
        """Connected to the live chat now (a file or stdin always is)."""
        ...


@runtime_checkable
class LiveSource(Protocol):
    """A source over the network: what it could not turn into events, and how often it reconnected."""

    drops: Mapping[str, int]
    connects: int


@runtime_checkable
class Synthesizer(Protocol):
    """Text to 24 kHz float32 PCM. Blocking: called only from the GPU worker thread."""

    def voices(self) -> list[str]: ...

    def synthesize(self, text: str, voice: str) -> Pcm: ...

    def set_voices(self, voices: list[VoiceConfig]) -> list[str]:
        """Replace the voice set (config reload); all or nothing: raises UserError and keeps the old set
        if one cannot be prepared."""
        ...

    def synthesize_batch(self, requests: list[tuple[str, str]]) -> list[Pcm | UserError]:
        """Several (text, voice) requests in one pass where the engine can; a request that cannot be
        spoken gets its error in its place."""
        ...

    def stream_batch(self, requests: list[tuple[str, str]]) -> Iterator[list[Pcm | Head | UserError]]:
        """`synthesize_batch` in steps, one per `next()` (each in the worker thread): the first yields each
        request's audio, error, or `Head` (the first part of a long one); if there were Heads, the next
        yields their rests, in order, each joining its Head without a gap."""
        ...

    @property
    def max_batch(self) -> int:
        """How many requests to synthesise in one pass: decided by the engine, read by the speaker."""
        ...

    def warm_up_steps(self) -> Iterator[str]:
        """Get ready in bounded steps, one per `next()` (each in the worker thread, between requests):
        after the first the engine can speak; later ones make it faster (e.g. capture CUDA graphs,
        compile, one shape each) without changing what it says. Each `next()` takes the step announced
        by the one before and yields the announcement of the next ("<kind> <what>": the worker times
        each kind apart to choose a pause long enough for it); the first takes the step that makes the
        engine able to speak. Ends when nothing is left."""
        ...


@runtime_checkable
class AudioSink(Protocol):
    """Plays (or records) utterances in the order given. `play` returns once the utterance is handed off
    (a sound card may make it wait while it is several utterances behind). What is actually heard is
    reported through `on_playback` (`bot/playback.py`): every utterance handed over is reported started
    then finished, or unplayed with a reason — exactly once.

    The controls act on what has not been heard yet and return at once; a recording sink has nothing to
    cut (it writes at once), so for it they are no-ops."""

    on_playback: PlaybackListener | None
    stale_after_s: float | None
    """Audio older than this when the output comes back from an outage is dropped (`stale`); a reload sets it."""

    async def start(self) -> None: ...

    @property
    def alive(self) -> bool:
        """The output can play (or is being reopened within its bound): for /healthz."""
        ...

    @property
    def waiting(self) -> int:
        """Utterances handed over and not yet heard."""
        ...

    @property
    def starved_seconds(self) -> float:
        """Silence inside audio we had promised the card (we were late)."""
        ...

    @property
    def device_underruns(self) -> int:
        """Underruns the audio server or driver reported (it was late)."""
        ...

    @property
    def callback_errors(self) -> int: ...

    async def play(self, utterance: Utterance) -> None: ...

    def skip(self, seq: int | None = None) -> bool:
        """Cut the utterance being heard (only if it is request `seq`, when given); False if none was."""
        ...

    def discard(self, matches: Callable[[SpeechRequest], bool], reason: str) -> int:
        """Drop the handed-over utterances not yet heard whose request `matches` (reported unplayed with
        `reason`); returns how many."""
        ...

    def pause(self) -> None:
        """Hold further utterances after the one being heard."""
        ...

    def resume(self) -> None: ...

    async def close(self) -> None:
        """Finish what was handed over (bounded), then release the output; what is left is reported."""
        ...
