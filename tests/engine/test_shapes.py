"""The shapes warm-up prepares for streamed rests, against every rest of one or two pieces."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.engine.backend import batch_bucket
from bot.engine.chunking import FRAMES_PER_SECOND
from bot.engine.grouping import plan_passes
from bot.engine.shapes import danmaku_passes, rest_passes
from bot.engine.synthesizer import F5Synthesizer
from bot.testing.engine import backend, voice
from tests.conftest import make_tiny_synthesizer

pytestmark = pytest.mark.torch  # the engine's parts import torch


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> F5Synthesizer:
    return make_tiny_synthesizer(tmp_path_factory.mktemp("cfg"), tiny_model)


@pytest.mark.parametrize("longest_message_s", [20.0, 30.0])
def test_every_rest_of_one_or_two_pieces_runs_at_a_listed_shape(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch, longest_message_s: float
) -> None:
    """Pieces of any lengths the planner can cut (each fits one pass, the two together do not), grouped
    as the batcher groups them (with graphs), land in listed shapes (in their padded form)."""
    be, v = backend(synth), voice(synth, "zh")
    monkeypatch.setattr(be, "bucket", 64)
    monkeypatch.setattr(be, "max_batch", 8)
    listed = [be.pass_shape(p) for p in rest_passes(be, v, longest_message_s)]
    assert len(set(listed)) == len(listed) and all(padded for _, _, padded in listed)
    assert [n for _, n, _ in listed] == sorted(n for _, n, _ in listed)  # shortest first
    longest = v.rate.frames_for_bytes(v.rate.max_chunk_bytes(v.speed, be.cfg.max_pass_s), v.speed)
    shortest = v.rate.frames_for_bytes(0, v.speed)
    message = int(longest_message_s * FRAMES_PER_SECOND)
    gens = range(shortest, longest + 1, 7)
    rests = [[g] for g in gens] + [[g, r] for g in gens for r in gens if longest < g + r <= message]
    for rest in rests:
        lengths = [v.rate.ref_frames + g for g in rest]
        for group in plan_passes(lengths, be.max_batch, batch_bucket, be.bucketed):
            b, n, _ = be.pass_shape([lengths[i] for i in group])
            assert (b, n, True) in listed, rest


def test_no_rest_shapes_when_every_message_fits_one_pass(synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    be = backend(synth)
    monkeypatch.setattr(be, "bucket", 64)
    assert rest_passes(be, voice(synth, "zh"), 20.0)
    monkeypatch.setattr(be, "cfg", be.cfg.model_copy(update={"max_pass_s": 30.0}))  # 30 s less the reference
    assert rest_passes(be, voice(synth, "zh"), 20.0) == []


@pytest.mark.parametrize("ref_frames", [500, 511, 575])
def test_danmaku_shapes_are_prepared_padded_as_traffic_runs_them(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch, ref_frames: int
) -> None:
    """A message's frames (reference + generated) land anywhere in a bucket, so traffic runs each bucket
    padded; only a length exactly on the bucket's end runs unpadded. With a reference one frame short of
    a bucket's end (511, 575), every length that warm-up stepped through fell on a bucket's end: it
    prepared only unpadded shapes."""
    be = backend(synth)
    monkeypatch.setattr(be, "bucket", 64)
    monkeypatch.setattr(be, "max_batch", 2)
    clip = SimpleNamespace(shape=(1, ref_frames, 100))
    stand_in = SimpleNamespace(ref_mel=clip, rate=SimpleNamespace(ref_frames=ref_frames))
    keys = [be.pass_shape(p) for p in danmaku_passes(be, stand_in, 2.0, 1.0)]  # type: ignore[arg-type]
    first = be.bucketed(ref_frames + 1)
    assert all(padded for _, n, padded in keys if n != first)
    assert {(b, n) for b, n, _ in keys} >= {(1, first), (1, first + 64), (2, first + 64)}
