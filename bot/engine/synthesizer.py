"""F5Synthesizer: text + voice id -> 24 kHz float32 PCM, on the device chosen in the config.

A small façade (the `Synthesizer` seam of bot/protocols.py) over four parts, each its own module: the
backend (model, vocoder and the sampling loop: plain, fast or CUDA graphs; bot/engine/backend.py), the
voice bank (bot/engine/voice_bank.py), text planning (bot/engine/planning.py) and batching with its
out-of-memory fallback (bot/engine/batching.py). Several waiting messages (and the pieces of a long one)
are sampled in one batched pass. Not thread-safe by design: the GPU worker thread is its only caller.
Tests and benchmarks reach the parts through bot/testing/engine.py.

A long message can be streamed (`stream_batch`): its first piece is synthesised with the batch, the rest
in a second step while the first is heard; the joins are the same cross-fades, so streamed or not the
audio is the same.

Start-up is step by step (`warm_up_steps`): the first step makes the eager fast loop ready to speak,
each later one captures the plain loop of one (batch, length) shape as a graph, then (in later steps)
compiles it; each is switched in once ready. Until then that shape runs eagerly, or replays its plain
graph: same arithmetic, same output up to fp16 rounding, only slower.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from bot.config import MAX_AUDIO_S, EngineConfig, ModelConfig, VoiceConfig
from bot.engine.backend import Backend
from bot.engine.batching import Batcher
from bot.engine.graphs import GraphKey
from bot.engine.loading import import_compiler
from bot.engine.planning import Piece, TextPlanner
from bot.engine.shapes import Pass, danmaku_passes, rest_passes
from bot.engine.voice_bank import Voice, VoiceBank
from bot.errors import UserError
from bot.events import SAMPLE_RATE, Head, Pcm

CROSS_FADE_SECONDS = 0.08
_OVERLAP = int(CROSS_FADE_SECONDS * SAMPLE_RATE)
WARM_UP_TEXT = "大家好，欢迎来到直播间！"


class F5Synthesizer:
    def __init__(
        self,
        model_cfg: ModelConfig,
        voices: list[VoiceConfig],
        engine: EngineConfig | None = None,
        longest_message_s: float = MAX_AUDIO_S,
    ) -> None:
        """`longest_message_s`: the longest a message may sound (`text.max_audio_s`), for the shapes
        that warm-up prepares for streamed long messages."""
        self._backend = Backend(model_cfg, engine or EngineConfig())
        self._longest_message_s = longest_message_s
        self._bank = VoiceBank(self._backend)
        self._planner = TextPlanner(self._backend)
        self._batcher = Batcher(self._backend)
        for i, voice in enumerate(voices):
            self._bank.add(voice, f"voices[{i}]")

    @property
    def max_batch(self) -> int:
        """Requests the speaker takes for one pass: the backend's batch size, decided once."""
        return self._backend.max_batch

    def voices(self) -> list[str]:
        return self._bank.ids()

    def set_voices(self, voices: list[VoiceConfig]) -> list[str]:
        return self._bank.set_voices(voices)

    # -- synthesis -------------------------------------------------------------------------------------

    def synthesize(self, text: str, voice: str) -> Pcm:
        """Speak `text` in `voice`; long text is split at sentences and joined with a short cross-fade."""
        result = self.synthesize_batch([(text, voice)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def synthesize_batch(self, requests: list[tuple[str, str]]) -> list[Pcm | UserError]:
        """Speak several (text, voice) requests in as few batched passes as fit; a request that cannot be
        spoken (no speakable text, unknown voice) gets its error in its place, the others their audio."""
        plans = self._plan(requests)
        pieces = [p for plan in plans if isinstance(plan, list) for p in plan]
        waves = iter(self._batcher.run(pieces))
        return [
            plan if isinstance(plan, UserError) else _finish(cross_fade([next(waves) for _ in plan]), plan[0].voice)
            for plan in plans
        ]

    def stream_batch(self, requests: list[tuple[str, str]]) -> Iterator[list[Pcm | Head | UserError]]:
        """`synthesize_batch` in up to two steps, one per `next()` (each in the worker thread).

        The first step synthesises every request's first piece in one batched pass and yields, in order,
        each request's whole audio, its error, or, for a request of several pieces, its `Head`: the audio
        up to the first join. If there was a Head, the second step synthesises the remaining pieces and
        yields each Head's rest, in order: Head + rest is exactly what `synthesize_batch` makes of it."""
        plans = self._plan(requests)
        firsts = iter(self._batcher.run([plan[0] for plan in plans if isinstance(plan, list)]))
        out: list[Pcm | Head | UserError] = []
        held: list[tuple[list[Piece], Pcm]] = []
        for plan in plans:
            if isinstance(plan, UserError):
                out.append(plan)
                continue
            wave = next(firsts)
            if len(plan) == 1:
                out.append(_finish(wave, plan[0].voice))
                continue
            keep = min(_OVERLAP, len(wave))  # the part the first join fades: it goes with the rest
            out.append(Head(_finish(wave[: len(wave) - keep], plan[0].voice)))
            held.append((plan, wave[len(wave) - keep :]))
        yield out
        if not held:
            return
        waves = iter(self._batcher.run([p for plan, _ in held for p in plan[1:]]))
        yield [
            _finish(cross_fade([tail, *(next(waves) for _ in plan[1:])]), plan[0].voice) for plan, tail in held
        ]

    def _plan(self, requests: list[tuple[str, str]]) -> list[list[Piece] | UserError]:
        plans: list[list[Piece] | UserError] = []
        for r, (text, voice_id) in enumerate(requests):
            try:
                plans.append(self._planner.plan(r, text, self._bank.voice(voice_id)))
            except UserError as err:
                plans.append(err)
        return plans

    # -- start-up --------------------------------------------------------------------------------------

    def warm_up_steps(self, max_gen_seconds: float = 8.0, max_batched_gen_seconds: float = 4.0) -> Iterator[str]:
        """Get ready to speak, one bounded step per `next()`, each meant to run between messages. Each
        `next()` takes the step the one before announced and announces the next ("<kind> <what>").

        1. The first speaks one sentence per voice on the eager fast loop (CUDA context, cuBLAS, the
           vocoder): from then on messages are spoken at eager speed.
        2. Where the blocks are to be compiled, `capture` steps first: each captures one (batch, length)
           shape's plain loop as a CUDA graph and switches it in. A capture costs two eager loops, a
           compile seconds, and the replay is already several times faster than launching every kernel
           (on an H100, 245 -> 92 ms for a short danmaku; docs/benchmarks.md). Then torch.compile's
           imports run on a thread of their own while steps only look whether they are done.
        3. `compile` steps (`capture` where nothing is compiled): each compiles one shape and captures
           the compiled loop, which replaces the plain one.
        4. `warm`: one sentence through the prepared path; from then on other shapes are prepared on
           first use, as without warm-up.

        Shapes, in order (bot/engine/shapes.py): each length bucket that a danmaku of up to
        `max_gen_seconds` lands in, for each voice, alone and (up to `max_batched_gen_seconds`) in each
        batch size; then those the rest of a streamed long message runs at; at most `engine.max_graphs`."""
        backend = self._backend
        if backend.graphs is None:  # nothing is shape-specific: one sentence is all there is to warm
            for v in self._bank.all():
                self.synthesize(WARM_UP_TEXT, v.id)
            return
        prepared: set[GraphKey] = set()
        backend.prepared = prepared
        for v in self._bank.all():
            self.synthesize(WARM_UP_TEXT, v.id)
        compiling = backend.compile_pending
        if compiling:
            for v, durations, key in self._warm_up_shapes(max_gen_seconds, max_batched_gen_seconds):
                yield f"capture {key}"
                self._prepare_shape(backend.captured_plain, key, v, durations)
            # Only now: seconds of imports that hold the interpreter's lock, which the eager loop needs
            # for each of its launches (started with the first step, they held the first message after
            # READY 7-10 s on an H200). The steps only look whether they are done.
            yield "poll compiler"
            compiler = threading.Thread(target=import_compiler, name="compiler-import", daemon=True)
            compiler.start()
            while compiler.is_alive():
                yield "poll compiler"
        for v, durations, key in self._warm_up_shapes(max_gen_seconds, max_batched_gen_seconds):
            yield f"{'compile' if compiling else 'capture'} {key}"
            self._prepare_shape(prepared, key, v, durations)
        yield "warm prepared path"
        backend.end_warm_up()
        for v in self._bank.all():
            self.synthesize(WARM_UP_TEXT, v.id)

    def _prepare_shape(self, ready: set[GraphKey], key: GraphKey, v: Voice, durations: Pass) -> None:
        """Switch `key` in (add it to `ready`) and run a pass at it, which captures (and, for the
        prepared path, compiles) its loop. A step that fails leaves its shape on the eager path."""
        ready.add(key)
        try:
            self._backend.sample([_warm_up_piece(self._backend, v, n) for n in durations], seed=0)
        except BaseException:
            ready.discard(key)
            self._backend.captured_plain.discard(key)  # its plain graph may be gone: eager, not a capture
            raise

    def _warm_up_shapes(self, max_gen_s: float, max_batched_gen_s: float) -> Iterator[tuple[Voice, Pass, GraphKey]]:
        """The passes that warm-up runs, one per shape (bot/engine/shapes.py), at most `engine.max_graphs`
        (more would evict the first, the danmaku's): the danmaku's of every voice first, then the streamed
        rests'. Voices are read as each list starts: a reload may change them between steps."""
        seen: set[GraphKey] = set()
        for group in (
            lambda v: danmaku_passes(self._backend, v, max_gen_s, max_batched_gen_s),
            lambda v: rest_passes(self._backend, v, self._longest_message_s),
        ):
            for v in self._bank.all():
                for durations in group(v):
                    key = self._backend.pass_shape(durations)
                    if key in seen:
                        continue
                    if len(seen) >= self._backend.engine.max_graphs:
                        return
                    seen.add(key)
                    yield v, durations, key


def _warm_up_piece(backend: Backend, v: Voice, frames: int) -> Piece:
    return Piece(0, "好", v, backend.tokenize(v.ref_text + "好"), frames)


def _finish(pcm: Pcm, voice: Voice) -> Pcm:
    """The voice's gain applied (clipped to full scale), as float32."""
    if voice.gain != 1.0:
        pcm = np.clip(pcm * voice.gain, -1.0, 1.0)
    return pcm.astype(np.float32, copy=False)


def cross_fade(waves: list[Pcm], overlap: int = _OVERLAP) -> Pcm:
    """Join pieces with a linear cross-fade of `overlap` samples (shortened for very short pieces)."""
    if not waves:
        return np.zeros(0, dtype=np.float32)
    out = waves[0]
    for nxt in waves[1:]:
        n = min(overlap, len(out), len(nxt))
        if n == 0:
            out = np.concatenate([out, nxt])
            continue
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        mixed = out[-n:] * (1 - ramp) + nxt[:n] * ramp
        out = np.concatenate([out[:-n], mixed, nxt[n:]])
    return out
