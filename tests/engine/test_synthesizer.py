"""The engine against upstream f5-tts, the quality oracle: same weights, same noise, same output."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bot.engine.chunking import FRAMES_PER_SECOND, MAX_SYNTH_CHARS
from bot.engine.graphs import GraphedSampler
from bot.engine.synthesizer import F5Synthesizer
from bot.errors import SynthesisError, TextError, VoiceError
from bot.events import Head
from bot.testing.engine import add_voice, backend, pieces, remove_voice, synthesize_piece, voice, warm_up
from tests.conftest import make_tiny_synthesizer

pytestmark = pytest.mark.torch  # imports the engine (torch): the pure run leaves the module out

MEDIUM = "刚来的朋友们记得点个关注，今天晚上八点我们还有一场特别活动！"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> F5Synthesizer:
    return make_tiny_synthesizer(tmp_path_factory.mktemp("cfg"), tiny_model)


def rel_err(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).norm() / b.norm())


def upstream_sample(synth: F5Synthesizer, text: str, duration: int, seed: int) -> torch.Tensor:
    """Upstream's CFM.sample from the reference wave itself (it computes the mel), as its CLI calls it."""
    from f5_tts.model.utils import convert_char_to_pinyin

    from bot.engine.reference import TARGET_RMS, load_reference
    from bot.testing.voice_clips import ZH_REF

    audio = load_reference(ZH_REF, "ref")
    wave = torch.tensor(audio.pcm).unsqueeze(0) * (TARGET_RMS / audio.rms if audio.rms < TARGET_RMS else 1.0)
    text_list = convert_char_to_pinyin([voice(synth, "zh").ref_text + text])
    mel, _ = backend(synth).model.sample(
        cond=wave, text=text_list, duration=duration, steps=16, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=seed
    )
    out: torch.Tensor = mel
    return out


def test_sampler_matches_upstream_cfm_sample(synth: F5Synthesizer) -> None:
    v, be = voice(synth, "zh"), backend(synth)
    duration = v.rate.ref_frames + v.rate.gen_frames(MEDIUM)
    for seed in (1, 2):
        up_mel = upstream_sample(synth, MEDIUM, duration, seed)
        noise = be.initial_noise(duration, seed)
        ours = be.sampler.sample(v.ref_mel, be.tokenize(v.ref_text + MEDIUM), duration, noise)
        assert ours.shape == up_mel.shape
        assert rel_err(ours, up_mel) <= 1e-4
        gen = slice(v.rate.ref_frames, None)
        up_wave = be.vocoder.decode(up_mel[:, gen].permute(0, 2, 1).float())
        our_wave = be.vocoder.decode(ours[:, gen].permute(0, 2, 1).float())
        assert rel_err(our_wave, up_wave) <= 1e-4
        assert float(up_wave.abs().max()) > 1e-3  # not silence: the tiny model really speaks (noise)


def test_full_path_matches_upstream_infer_batch_process(synth: F5Synthesizer) -> None:
    from bot.engine.f5_imports import ensure_upstream_infer_importable

    ensure_upstream_infer_importable()
    from f5_tts.infer.utils_infer import infer_batch_process

    from bot.engine.reference import load_reference
    from bot.testing.voice_clips import ZH_REF, ZH_TEXT

    audio = load_reference(ZH_REF, "ref")
    torch.manual_seed(7)
    up_wave, sr, _ = next(
        infer_batch_process(
            (torch.tensor(audio.pcm).unsqueeze(0), 24_000),
            ZH_TEXT,
            [MEDIUM],
            backend(synth).model,
            backend(synth).vocoder,
            progress=None,
            nfe_step=16,
            cfg_strength=2.0,
            sway_sampling_coef=-1.0,
            device="cpu",
        )
    )
    ours = synthesize_piece(synth, MEDIUM, "zh", seed=7)
    assert sr == 24_000 and ours.shape == up_wave.shape
    assert rel_err(ours, up_wave) <= 1e-4


def test_seeded_output_is_reproducible_and_text_dependent(synth: F5Synthesizer) -> None:
    a = synth.synthesize("你好，欢迎！", "zh")
    b = synth.synthesize("你好，欢迎！", "zh")
    c = synth.synthesize("你好，再见！", "zh")
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert len(a) == len(c) and not np.allclose(a, c)


def test_out_of_vocab_and_odd_text_never_crash(synth: F5Synthesizer) -> None:
    for text in ["ẞ Ω ש ب ☃ 𝄞 zalgo z\u0337\u031b 好", "\x00\x01 ok \u202e", "６６６", "x" * 3]:
        pcm = synth.synthesize(text, "zh")
        assert np.isfinite(pcm).all() and len(pcm) > 0


def test_text_over_the_engines_bound_is_an_error_not_a_long_synthesis(synth: F5Synthesizer) -> None:
    """The speech stage cuts to the bound (tests/speech/test_prepare.py); the engine only checks it."""
    with pytest.raises(TextError, match="over the engine's bound"):
        synth.synthesize("好" * (MAX_SYNTH_CHARS + 1), "zh")


def test_a_long_text_starts_with_a_short_first_piece() -> None:
    from bot.engine.planning import plan_texts

    text = "感谢老板送的火箭！今天的直播真的太精彩了，主播的操作一次比一次秀。我从下午一直看到现在都舍不得走。"
    whole = plan_texts(text, 90, 30)
    assert whole == [
        "感谢老板送的火箭！",
        "今天的直播真的太精彩了，主播的操作一次比一次秀。",
        "我从下午一直看到现在都舍不得走。",
    ]
    assert plan_texts(text, 1000, 30) == [text]  # one pass: nothing to stream, not cut
    assert plan_texts("Hello there, how are you? Fine thanks. And you, my friend?", 40, 14) == [
        "Hello there,",
        "how are you? Fine thanks. And you,",
        "my friend?",
    ]
    # a first clause longer than the head is the head, whole: never cut mid-clause
    assert plan_texts("好" * 10 + "。" + "好" * 30, 90, 9) == ["好" * 10 + "。", "好" * 30]


def test_max_pass_s_sets_where_long_text_is_split(synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "好" * 55
    assert len(pieces(synth, text, "zh")) == 2  # the default 22 s: reference + 55 characters do not fit
    be = backend(synth)
    monkeypatch.setattr(be, "cfg", be.cfg.model_copy(update={"max_pass_s": 30.0}))
    (one,) = pieces(synth, text, "zh")
    assert one.text == text and one.duration > 22.0 * FRAMES_PER_SECOND


@pytest.mark.parametrize(
    ("text", "voice", "error"),
    [
        ("   ", "zh", TextError),
        ("！？。🎉", "zh", TextError),
        ("你好", "nobody", VoiceError),
    ],
)
def test_bad_input_is_a_clear_error(synth: F5Synthesizer, text: str, voice: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        synth.synthesize(text, voice)


def test_out_of_memory_drops_the_utterance_and_recovers(synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    be = backend(synth)
    real = be.sample
    calls: list[int] = []

    def oom_on_batches_and_first_single(group: list[Any], seed: int | None = None) -> list[np.ndarray]:
        calls.append(len(group))
        if len(group) > 1 or len(calls) == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(group, seed)

    released: list[bool] = []
    monkeypatch.setattr(be, "sample", oom_on_batches_and_first_single)
    monkeypatch.setattr(be, "release_memory", lambda: released.append(True))
    # a batch of two OOMs -> retried one by one -> the first single OOMs too: the call is dropped
    with pytest.raises(SynthesisError, match="GPU out of memory"):
        synth.synthesize_batch([("第一句", "zh"), ("第二句", "zh")])
    assert calls == [2, 1] and released == [True, True]
    # and the engine goes on
    assert len(synth.synthesize("第三句", "zh")) > 0


def test_fast_loop_matches_upstream_cfm_sample_with_and_without_padding(synth: F5Synthesizer) -> None:
    """The static-shape loop (masked bucket padding, precomputed modulation, fused QKV) in fp32 against
    upstream's CFM.sample on the same weights and noise."""
    be = backend(synth)
    assert be.fast is not None
    v = voice(synth, "zh")
    ids = be.tokenize(v.ref_text + MEDIUM)
    n = v.rate.ref_frames + v.rate.gen_frames(MEDIUM)
    up = upstream_sample(synth, MEDIUM, n, seed=3)
    for length in (n, n + 37, -(-n // 64) * 64 + 64):
        batch = be.fast.prepare([(v.ref_mel, ids, n, be.initial_noise(n, 3))], length)
        out = be.fast.sample(batch)
        assert bool((out[:, n:] == 0).all())  # padding never leaks, and stays finite
        mel = torch.cat([v.ref_mel, out[:, v.ref_mel.shape[1] : n]], dim=1)
        assert rel_err(mel, up) <= 1e-4, length


def test_batched_equals_one_by_one(synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["你好", MEDIUM, "主播好厉害，这波操作太秀了！", "GG wp", "今天几点下播？"]
    alone = [synth.synthesize(t, "zh") for t in texts]
    monkeypatch.setattr(backend(synth), "bucket", 64)  # also through bucket padding, as on the GPU
    together = synth.synthesize_batch([(t, "zh") for t in texts])
    for a, b in zip(alone, together, strict=True):
        assert isinstance(b, np.ndarray) and a.shape == b.shape
        assert rel_err(b, a) <= 1e-4


def test_a_bad_request_in_a_batch_fails_alone(synth: F5Synthesizer) -> None:
    out = synth.synthesize_batch([("你好", "zh"), ("🎉", "zh"), ("hi", "nobody"), ("再见", "zh")])
    assert [type(o).__name__ for o in out] == ["ndarray", "TextError", "VoiceError", "ndarray"]


def test_warm_up_without_graphs_only_speaks_once(synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    spoken: list[str] = []
    monkeypatch.setattr(synth, "synthesize", lambda text, voice: spoken.append(voice))
    assert warm_up(synth) == 0 and spoken == ["zh"]


def test_warm_up_covers_every_bucket_and_batch_size(synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on the GPU (graphs present): every 64-frame bucket up to 1 s alone, up to 0.5 s batched, before
    any shape of a streamed rest."""
    runs: list[tuple[int, int]] = []
    be = backend(synth)
    monkeypatch.setattr(be, "graphs", RecordingGraphs(be.fast))
    monkeypatch.setattr(be, "bucket", 64)
    monkeypatch.setattr(be, "max_batch", 8)
    monkeypatch.setattr(synth, "synthesize", lambda text, voice: np.zeros(1, dtype=np.float32))
    longest = lambda group, seed=None: runs.append((len(group), max(p.duration for p in group)))  # noqa: E731
    monkeypatch.setattr(be, "sample", longest)
    v = voice(synth, "zh")
    shapes = warm_up(synth, max_gen_seconds=1.0, max_batched_gen_seconds=0.5)
    assert shapes == len(runs)
    buckets = [(b, -(-n // 64)) for b, n in runs]
    assert len(set(buckets)) == len(runs)  # no shape twice
    first, last1, last_b = v.ref_mel.shape[1] + 1, v.rate.ref_frames + 93, v.rate.ref_frames + 46
    danmaku = {(1, k) for k in range(-(-first // 64), -(-last1 // 64) + 1)}
    danmaku |= {(b, k) for b in (2, 4, 8) for k in range(-(-first // 64), -(-last_b // 64) + 1)}
    assert set(buckets[: len(danmaku)]) == danmaku  # the danmaku's shapes first
    assert len(runs) > len(danmaku)  # then the rests' (tested below)


def test_voices_can_be_added_and_removed(synth: F5Synthesizer, write_wav: Callable[..., Path]) -> None:
    from bot.config import VoiceConfig

    add_voice(synth, VoiceConfig(id="tone", ref_audio=str(write_wav("t.wav", 3.0)), ref_text="la la la la"))
    assert "tone" in synth.voices()
    assert len(synth.synthesize("hello", "tone")) > 0
    remove_voice(synth, "tone")
    assert synth.voices() == ["zh"]


def test_both_forms_of_the_position_convolution_agree(synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU's channels-last 2-D form (run here on the CPU) against the CPU's 1-D form, with padding."""
    fast = backend(synth).fast
    assert fast is not None and all(w.dim() == 3 for w in fast.conv_w)
    dim = fast.w_x.shape[0]
    h = torch.randn(2, 40, dim)
    mask = (torch.arange(40)[None, :] < torch.tensor([[40], [31]])).unsqueeze(-1)
    one_d = fast._conv_pos(h, mask)
    monkeypatch.setattr(
        fast, "conv_w", [w.unsqueeze(2).contiguous(memory_format=torch.channels_last) for w in fast.conv_w]
    )
    two_d = fast._conv_pos(h, mask)
    assert rel_err(two_d, one_d) <= 1e-5 and not two_d[1, 31:].any()


class RecordingGraphs:
    """Stands in for GraphedSampler on the CPU: runs the prepared-path loop and records what it served."""

    def __init__(self, fast: Any) -> None:
        self.fast = fast
        self.served: list[tuple[int, int, bool]] = []
        self.plain: list[tuple[int, int, bool]] = []
        self.dropped_plain = False

    def run(self, batch: Any, eager: bool = False) -> torch.Tensor:
        (self.plain if eager else self.served).append(GraphedSampler.key(batch))
        out: torch.Tensor = self.fast.sample(batch, eager)
        return out

    def drop_plain(self) -> None:
        self.dropped_plain = True


def test_shapes_run_eagerly_until_their_warm_up_step_switches_them_in(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    be = backend(synth)
    graphs = RecordingGraphs(be.fast)
    monkeypatch.setattr(be, "graphs", graphs)
    monkeypatch.setattr(be, "bucket", 64)
    monkeypatch.setattr(be, "max_batch", 1)
    monkeypatch.setattr(be, "cfg", be.cfg.model_copy(update={"max_pass_s": 30.0}))  # no rests: fewer shapes
    steps = synth.warm_up_steps(max_gen_seconds=1.0)
    first = next(steps)  # able to speak; nothing is compiled on the CPU: the captures come at once
    assert first.startswith("capture (") and graphs.served == []
    eager = synth.synthesize("好", "zh")
    assert graphs.served == []  # no shape prepared yet: the eager loop spoke
    announced = [first, *steps]
    shapes = [s for s in announced if s.startswith("capture")]
    assert shapes and announced[-1] == "warm prepared path" and be.prepared is None
    assert len(graphs.served) == len(shapes) + 1  # each step ran its own shape, then the last sentence
    assert graphs.plain == [] and graphs.dropped_plain
    prepared = synth.synthesize("好", "zh")
    assert len(graphs.served) == len(shapes) + 2
    np.testing.assert_array_equal(eager, prepared)  # the same arithmetic either way (seeded)


LONG = (
    "感谢老板送的火箭！今天的直播真的太精彩了，主播的操作一次比一次秀，"
    "我从下午一直看到现在都舍不得走。希望主播以后也能保持这样的状态！"
)


def test_a_streamed_long_text_is_its_head_then_its_rest_exactly_as_unstreamed(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first piece alone first (heard while the rest is synthesised), the rest joined with the same
    cross-fade: head + rest equals the unstreamed audio, for a long text in a batch beside a short one."""
    plan = pieces(synth, LONG, "zh")
    assert len(plan) >= 2 and plan[0].text == "感谢老板送的火箭！"
    whole = synth.synthesize_batch([("你好", "zh"), (LONG, "zh"), ("🎉", "zh")])
    steps = synth.stream_batch([("你好", "zh"), (LONG, "zh"), ("🎉", "zh")])
    short, head, error = next(steps)
    assert isinstance(short, np.ndarray) and isinstance(head, Head) and isinstance(error, TextError)
    (rest,) = next(steps)
    assert next(steps, None) is None
    joined = np.concatenate([head.pcm, rest])
    expected = whole[1]
    assert isinstance(expected, np.ndarray) and joined.shape == expected.shape
    assert rel_err(joined, expected) <= 1e-4
    assert rel_err(short, whole[0]) <= 1e-4
    # the head is the first piece's audio up to its join: it plays alone while the rest is made
    assert len(head.pcm) == len(synthesize_piece(synth, plan[0].text, "zh")) - int(0.08 * 24_000)


class ShapeRecorder:
    """Stands in for GraphedSampler on the CPU: records the shape of each pass it is given and samples
    nothing (silence), so that warm-up's many long shapes take no time."""

    def __init__(self) -> None:
        self.served: list[tuple[int, int, bool]] = []

    def run(self, batch: Any, eager: bool = False) -> torch.Tensor:
        self.served.append(GraphedSampler.key(batch))
        return torch.zeros_like(batch.noise)

    def drop_plain(self) -> None:
        pass


def long_texts(synth: F5Synthesizer, longest_s: float, n: int) -> list[str]:
    """`n` texts of sentences and clauses of random lengths, each predicted (as the speech stage bounds
    a message) at most `longest_s` in the voice `zh` and too long for one pass: each is streamed."""
    rng = np.random.default_rng(19)
    v, out = voice(synth, "zh"), []
    while len(out) < n:
        text = ""
        while True:
            clause = "好" * int(rng.integers(1, 40)) + str(rng.choice(list("。，！？")))
            if v.rate.gen_frames(text + clause, v.speed) > longest_s * FRAMES_PER_SECOND:
                break
            text += clause
        if len(pieces(synth, text, "zh")) > 1:
            out.append(text)
    return out


def test_warm_up_prepares_the_shapes_the_rest_of_a_streamed_long_message_runs_at(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a long message's first piece plays, its rest is synthesised; a shape warm-up left out would
    be compiled and captured then (on a Jetson longer than the first piece plays: a gap at the join).
    Messages up to text.max_audio_s's default (20 s), as the speech stage bounds them."""
    be = backend(synth)
    graphs = ShapeRecorder()
    monkeypatch.setattr(be, "graphs", graphs)
    monkeypatch.setattr(be, "prepared", be.prepared)  # restored afterwards: the warm-up sets it
    monkeypatch.setattr(be, "bucket", 64)
    monkeypatch.setattr(be, "max_batch", 8)
    monkeypatch.setattr(be, "vocode", lambda mel, rms: np.zeros(mel.shape[1] * 256, dtype=np.float32))  # silence
    steps = list(synth.warm_up_steps())
    warmed = set(graphs.served)
    assert sum(s.startswith("capture") for s in steps) == len(warmed) <= be.engine.max_graphs
    rest_shapes: set[tuple[int, int, bool]] = set()
    for text in [LONG, *long_texts(synth, 20.0, 16)]:
        stream = synth.stream_batch([(text, "zh"), ("主播晚上好", "zh")])
        graphs.served.clear()
        first = next(stream)
        assert isinstance(first[0], Head)
        graphs.served.clear()
        next(stream)
        # in its padded (masked) form: a pass whose pieces all end on a bucket's end (1 in 64) is left to
        # first use, as for danmaku
        served = {(b, n, True) for b, n, _ in graphs.served}
        assert served and served <= warmed, (text, served - warmed)
        rest_shapes |= served
    assert {b for b, _, _ in rest_shapes} == {1, 2}  # rests of one piece and rests of two batched


def test_warm_up_prepares_at_most_max_graphs_shapes_the_danmakus_first(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The graphs kept resident are at most engine.max_graphs, least recently used dropped first: more
    shapes prepared would drop the danmaku's, prepared first."""
    be = backend(synth)
    runs: list[tuple[int, int]] = []
    monkeypatch.setattr(be, "graphs", RecordingGraphs(be.fast))
    monkeypatch.setattr(be, "bucket", 64)
    monkeypatch.setattr(be, "max_batch", 8)
    monkeypatch.setattr(be, "engine", be.engine.model_copy(update={"max_graphs": 5}))
    monkeypatch.setattr(synth, "synthesize", lambda text, voice: np.zeros(1, dtype=np.float32))
    monkeypatch.setattr(be, "sample", lambda group, seed=None: runs.append((len(group), group[0].duration)))
    assert warm_up(synth) == 5
    assert [b for b, _ in runs] == [1] * 5 and [n for _, n in runs] == sorted(n for _, n in runs)


def test_a_batch_without_long_texts_streams_in_one_step(synth: F5Synthesizer) -> None:
    steps = synth.stream_batch([("你好", "zh"), ("再见", "zh")])
    first = next(steps)
    assert all(isinstance(r, np.ndarray) for r in first) and next(steps, None) is None


def test_a_batch_of_mixed_lengths_is_sampled_in_passes_of_similar_length(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight danmaku of 1 to 25 characters: not one pass padded to the longest (bot/engine/grouping.py)."""
    texts = ["好", "666", "主播晚上好", "哈哈哈笑死我了", "这个操作我给满分，太强了！", "刚来的，主播今天玩什么游戏？",
             "前方高能预警，大家注意了！今天的直播太好看", "感谢老板送的火箭！主播的操作一次比一次秀，加油"]
    be = backend(synth)
    real = be.sample
    passes: list[list[int]] = []
    record = lambda group: (passes.append([p.duration for p in group]), real(group))[1]  # noqa: E731
    monkeypatch.setattr(be, "sample", record)
    monkeypatch.setattr(be, "max_batch", 8)
    out = synth.synthesize_batch([(t, "zh") for t in texts])
    assert all(isinstance(o, np.ndarray) for o in out)
    assert len(passes) > 1 and sorted(d for p in passes for d in p) == [d for p in passes for d in p]


def test_the_compiler_is_imported_on_a_thread_of_its_own_while_warm_up_steps_return_at_once(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing torch.compile's machinery takes seconds; inside a warm-up step on the GPU thread, a message
    arriving meanwhile would wait for all of it."""
    threads: list[int] = []
    be = backend(synth)
    monkeypatch.setattr(be, "prepared", be.prepared)  # restored afterwards: the warm-up sets it
    monkeypatch.setattr(be, "graphs", RecordingGraphs(be.fast))  # as on CUDA: the shape-by-shape warm-up
    monkeypatch.setattr(be, "_compile_pending", True)
    monkeypatch.setattr(synth, "synthesize", lambda text, voice: None)
    monkeypatch.setattr(
        "bot.engine.synthesizer.import_compiler", lambda: (threads.append(threading.get_ident()), time.sleep(0.5))
    )
    monkeypatch.setattr(synth, "_warm_up_shapes", lambda *limits: iter([]))  # nothing to capture first
    steps = synth.warm_up_steps()
    assert next(steps) == "poll compiler" and not threads  # announced: nothing imported yet
    t0 = time.monotonic()
    assert next(steps) == "poll compiler" and time.monotonic() - t0 < 0.2
    assert threads and threads[0] != threading.get_ident()
    steps.close()


def test_plain_loops_are_captured_first_then_each_shape_is_compiled_and_replaces_its_plain_graph(
    synth: F5Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the blocks are to be compiled: quick captures of the plain loop switch each shape to a graph
    first; a message of a captured shape replays it; each compile step then switches its shape to the
    compiled loop; at the end the plain graphs are dropped. The output is the same throughout."""
    eager = synth.synthesize("好", "zh")
    be = backend(synth)
    graphs = RecordingGraphs(be.fast)
    compiled: list[bool] = []
    monkeypatch.setattr(be, "graphs", graphs)
    monkeypatch.setattr(be, "bucket", 64)
    monkeypatch.setattr(be, "max_batch", 1)
    monkeypatch.setattr(be, "_compile_pending", True)
    monkeypatch.setattr(be.fast, "compile", lambda *args: compiled.append(True))  # no compiler on the CPU
    monkeypatch.setattr("bot.engine.synthesizer.import_compiler", lambda: None)
    steps = synth.warm_up_steps(max_gen_seconds=1.0)
    announced = [next(steps)]
    while announced[-1].startswith("capture"):
        announced.append(next(steps))
    captures = [a.split(" ", 1)[1] for a in announced[:-1]]
    assert captures and graphs.served == [] and not compiled
    assert len(graphs.plain) == len(captures)  # each capture step ran its shape's plain loop
    assert rel_err(synth.synthesize("好", "zh"), eager) <= 1e-5
    assert len(graphs.plain) == len(captures) + 1 and graphs.served == []  # replayed, not compiled
    announced += list(steps)
    compiles = [a.split(" ", 1)[1] for a in announced if a.startswith("compile")]
    assert compiles == captures and compiled == [True] and announced[-1] == "warm prepared path"
    assert len(graphs.served) == len(compiles) + 1 and graphs.dropped_plain and not be.captured_plain
    assert rel_err(synth.synthesize("好", "zh"), eager) <= 1e-5
