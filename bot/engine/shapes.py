"""Which (batch, length) shapes warm-up prepares, and in what order.

Warm-up (`F5Synthesizer.warm_up_steps`) compiles and captures one shape per step in the chat's pauses; a
shape it did not prepare is compiled and captured on first use, while its message waits. Each shape is
listed as a pass that runs at it (the durations of its pieces, in frames): warm-up runs that pass. First
what short danmaku need, then what the rest of a streamed long message needs:

1. Danmaku: every length bucket that a message of up to `max_gen_s` of speech lands in alone, and of up
   to `max_batched_gen_s` in each batch size.
2. Rests. A long message's first piece is synthesised with its batch (a danmaku's shape); its rest, the
   other pieces, while that piece plays (about 3 s: bot/engine/planning.py). Unprepared, the rest of the
   first long message after a start waited for its capture: on an H200 the join's p50 was 540 ms
   (docs/benchmarks.md), on a Jetson several times that, longer than the first piece plays: a gap. A
   rest is cut as the planner cuts (each piece fits one pass of `model.max_pass_s`; two neighbours do
   not) and its pieces are grouped into passes by bot/engine/grouping.py, so the shapes listed are the
   passes `plan_passes` makes of
   - a rest of one piece: every length bucket up to the longest piece, alone;
   - rests of several pieces: m pieces of one length and at most one of another, every bucket of each,
     within the longest message the speech stage lets through (`text.max_audio_s`).
   That is every rest of one or two pieces, and rests of more by their most batchable form (alike
   pieces). At the default 20 s it adds 19 shapes for each example voice (zh, en) and 20 for both (the
   danmaku's: 30, 34 and 38): the lengths past the danmaku's 8 s alone, and two pieces of about 8-12 s
   batched. Where a rest's pieces end depends on where its text's sentences end, so any of those
   lengths can come and the list is not cut to a few likely ones; a longer `text.max_audio_s` adds
   longer batched rests and batches of 4 and 8. Warm-up stops at `engine.max_graphs` shapes
   (bot/engine/synthesizer.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from bot.engine.backend import Backend, batch_bucket
from bot.engine.chunking import FRAMES_PER_SECOND
from bot.engine.graphs import GraphKey
from bot.engine.grouping import plan_passes
from bot.engine.voice_bank import Voice

Pass = tuple[int, ...]
"""The durations (reference + generated frames) of the pieces of one batched pass."""


def danmaku_passes(backend: Backend, voice: Voice, max_gen_s: float, max_batched_gen_s: float) -> Iterator[Pass]:
    """One pass per length bucket of a message in `voice` of up to `max_gen_s` alone and up to
    `max_batched_gen_s` in each batch size (of alike pieces), alone first, shortest first."""
    start = voice.ref_mel.shape[1] + 1
    for b in sorted({batch_bucket(n) for n in range(1, backend.max_batch + 1)}):
        end = voice.rate.ref_frames + int((max_gen_s if b == 1 else max_batched_gen_s) * FRAMES_PER_SECOND)
        for n in range(start, end + backend.bucket, backend.bucket):
            n = min(n, end)
            if backend.bucket > 1 and n == backend.bucketed(n) and n - 1 >= start:
                n -= 1  # the padded form: the other lengths of the bucket are, and far more common
            yield (n,) * b


def rest_passes(backend: Backend, voice: Voice, longest_message_s: float) -> list[Pass]:
    """The passes the rest of a streamed message in `voice` runs in, one per shape, shortest first."""
    rate, speed, ref = voice.rate, voice.speed, voice.rate.ref_frames
    longest = rate.frames_for_bytes(rate.max_chunk_bytes(speed, backend.cfg.max_pass_s), speed)
    shortest = rate.frames_for_bytes(0, speed)
    message = int(longest_message_s * FRAMES_PER_SECOND)
    if message <= longest:  # every message fits one pass: none is streamed
        return []
    # Generated lengths by the bucket their piece lands in (a piece is the reference + its generated
    # frames, as TextPlanner.piece makes it): plan_passes reads only bucketed lengths, so one length of
    # each bucket stands for all; for rests of several pieces, the shortest that the limits allow.
    buckets: list[tuple[int, int]] = []
    while (low := buckets[-1][1] + 1 if buckets else shortest) <= longest:
        buckets.append((low, min(longest, backend.bucketed(ref + low) - ref)))
    rests = [[high] for _, high in buckets]
    for g_low, g_high in buckets:
        for r_low, r_high in ((0, 0), *buckets):
            # m pieces of g and one of r (none when r = 0): two neighbours never fit one pass
            g = max(g_low, longest // 2 + 1, longest - r_high + 1 if r_high else 0)
            r = max(r_low, longest - g + 1) if r_high else 0
            if g > g_high or r > r_high:
                continue
            # past 2 x max_batch pieces, more of them only repeat the same passes
            rests += [[g] * m + ([r] if r else []) for m in range(1, 2 * backend.max_batch + 1) if m * g + r <= message]
    found: dict[GraphKey, Pass] = {}
    for gens in rests:
        lengths = [ref + g for g in gens]
        for group in plan_passes(lengths, backend.max_batch, batch_bucket, backend.bucketed):
            durations = [lengths[i] for i in group]  # shortest first
            if durations[0] == backend.bucketed(durations[-1]) and backend.bucket > 1:
                durations[0] -= 1  # the padded form of the shape: a length exactly on a bucket's end is rare
            found.setdefault(backend.pass_shape(durations), tuple(durations))
    return [found[key] for key in sorted(found, key=lambda k: (k[1], k[0], k[2]))]
