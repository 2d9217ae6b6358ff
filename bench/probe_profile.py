"""Probe: where a synthesis call's time goes, phase by phase and kernel by kernel (NFE 16, fp16).

For each case: wall time of the phases (tokenise, prepare, graph replay, vocode + copy), then the
kernels of one graphed sampling loop under torch.profiler, grouped (GEMM, attention, fused elementwise,
convolution, other) with the busiest kernels listed. The sum of kernel times against the replay's wall
time says how much of the loop is the GPU idling between kernels.

python bench/probe_profile.py --out profile.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from common import SHORT_DANMAKU, TEXTS, BenchModel

from bot.engine import fast_dit as _fast_dit

ORIGINAL_ROTARY = _fast_dit._rotary

CASES = {
    "short_b1": [TEXTS["short"]],
    "medium_b1": [TEXTS["medium"]],
    "long_b1": [TEXTS["long"]],
    "short_b8": SHORT_DANMAKU,
}


def category(name: str) -> str:
    n = name.lower()
    if any(s in n for s in ("flash", "fmha", "attention", "efficient", "cudnn_generated")):
        return "attention"
    if any(s in n for s in ("gemm", "xmma", "cutlass", "nvjet", "cublas", "sm90")):
        return "gemm"
    if "triton" in n:
        return "fused (triton)"
    if "conv" in n:
        return "conv"
    return "other"


def cuda_ms(fn: Any, reps: int) -> float:
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def wall_ms(fn: Any, reps: int) -> float:
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def kernels(fn: Any) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    per_name: dict[str, list[float]] = defaultdict(list)
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA and ev.device_time_total > 0:
            per_name[ev.name].append(ev.device_time_total / 1000)
    groups: dict[str, float] = defaultdict(float)
    for name, ts in per_name.items():
        groups[category(name)] += sum(ts)
    top = sorted(per_name.items(), key=lambda kv: -sum(kv[1]))[:12]
    return {
        "kernel_ms": round(sum(groups.values()), 2),
        "launches": sum(len(ts) for ts in per_name.values()),
        "groups_ms": {k: round(v, 2) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "top": [
            {"name": name[:110], "n": len(ts), "ms": round(sum(ts), 2), "us_each": round(1000 * sum(ts) / len(ts), 1)}
            for name, ts in top
        ],
    }


def profile_case(synth: Any, texts: list[str], reps: int) -> dict[str, Any]:
    from bot.engine.synthesizer import batch_bucket

    v = synth.voice("ref")
    reqs = [(t, "ref") for t in texts]

    def tokenise() -> list[Any]:
        return [p for r, t in enumerate(texts) for p in synth._pieces(r, t, v)]

    pieces = tokenise()
    length = synth.bucketed(max(p.duration for p in pieces))
    items = [(v.ref_mel, p.ids, p.duration, synth.initial_noise(p.duration, 0)) for p in pieces]
    items += [items[0]] * (batch_bucket(len(items)) - len(items))
    batch = synth.fast.prepare(items, length)
    for _ in range(2):
        synth.synthesize_batch(reqs)
    out = synth.graphs.run(batch)

    def vocode() -> None:
        for i, p in enumerate(pieces):
            synth.vocode(out[i : i + 1, v.rate.ref_frames : p.duration], v.ref_rms)

    return {
        "rows": 2 * len(items),
        "length": length,
        "durations": [p.duration for p in pieces],
        "masked": batch.key_mask is not None,
        "total_ms": round(wall_ms(lambda: synth.synthesize_batch(reqs), reps), 2),
        "tokenise_ms": round(wall_ms(tokenise, reps), 2),
        "prepare_ms": round(wall_ms(lambda: synth.fast.prepare(items, length), reps), 2),
        "replay_ms": round(cuda_ms(lambda: synth.graphs.run(batch), reps), 2),
        "vocode_ms": round(wall_ms(vocode, reps), 2),
        "eager_compiled_ms": round(cuda_ms(lambda: synth.fast.sample(batch), reps), 2),
        "graph_kernels": kernels(lambda: synth.graphs.run(batch)),
        "eager_kernels": kernels(lambda: synth.fast.sample(batch)),
    }


def conv_check(synth: Any) -> dict[str, Any]:
    """The position convolution as the engine runs it vs the same call on fresh tensors (kernel names)."""
    import torch.nn.functional as F

    fast = synth.fast
    h = torch.randn(2, 896, 1024, device="cuda", dtype=torch.float16)
    mask = torch.ones(2, 896, 1, device="cuda", dtype=torch.bool)
    w = torch.randn_like(fast.conv_w[0]).contiguous(memory_format=torch.channels_last) * 0.02
    x = h.transpose(1, 2).unsqueeze(2)
    out: dict[str, Any] = {
        "weight_stride": list(fast.conv_w[0].stride()),
        "weight_is_cl": fast.conv_w[0].is_contiguous(memory_format=torch.channels_last),
        "input_stride": list(x.stride()),
        "cudnn": torch.backends.cudnn.version(),
        "benchmark": torch.backends.cudnn.benchmark,
        "deterministic": torch.backends.cudnn.deterministic,
    }
    from probe_kernels import per_call_us

    with torch.inference_mode():
        for bench_flag in (False, True):
            torch.backends.cudnn.benchmark = bench_flag
            for name, fn in (
                ("engine", lambda: fast._conv_pos(h, mask)),
                ("conv2d_fresh_weight", lambda: F.conv2d(x, w, fast.conv_b[0], padding=(0, 15), groups=16)),
                (
                    "conv2d_engine_weight",
                    lambda: F.conv2d(x, fast.conv_w[0], fast.conv_b[0], padding=(0, 15), groups=16),
                ),
                (
                    "conv1d_engine_weight",
                    lambda: F.conv1d(
                        h.transpose(1, 2), fast.conv_w[0].squeeze(2), fast.conv_b[0], padding=15, groups=16
                    ),
                ),
            ):
                fn()
                k = kernels(fn)
                out[f"{name}/benchmark={bench_flag}"] = {
                    "eager_us": round(1000 * cuda_ms(fn, 20), 1),
                    "graph_us": per_call_us(fn),
                    "top": [(t["n"], t["us_each"], t["name"][:50]) for t in k["top"][:3]],
                }
        torch.backends.cudnn.benchmark = False
    return out


def use_variant(synth: Any, variant: str) -> None:
    """engine: as shipped; flip_rope: RoPE's pair swap as a flip with the sign folded into sin;
    static_compile: the blocks compiled per shape (dynamic=False)."""
    import torch._dynamo

    from bot.engine import fast_dit

    fast = synth.fast
    torch._dynamo.reset()
    torch._dynamo.config.cache_size_limit = 64
    fast._rope.clear()
    fast_dit._rotary = ORIGINAL_ROTARY
    if variant == "flip_rope":
        fast_dit._rotary = rotary_flip
        plain = fast_dit.FastDiT.rope

        signed: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

        def signed_rope(self: Any, length: int) -> tuple[torch.Tensor, torch.Tensor]:
            if length not in signed:  # filled by the warm-up run, before any capture
                cos, sin = plain(self, length)
                sign = torch.tensor([-1.0, 1.0], device=sin.device).repeat(sin.shape[-1] // 2)
                signed[length] = (cos, sin * sign)
            return signed[length]

        fast.rope = signed_rope.__get__(fast)
    else:
        fast.__dict__.pop("rope", None)
    dynamic = variant != "static_compile"
    fast._block_fn = torch.compile(fast_dit.block_forward, dynamic=dynamic, fullgraph=True)


def rotary_flip(t: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], heads: int | None) -> torch.Tensor:
    cos, sin_signed = rope
    if heads is not None:
        return torch.cat([rotary_flip(t[:, :, :heads], rope, None), t[:, :, heads:]], dim=2)
    swapped = t.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)
    return (t * cos + swapped * sin_signed).to(t.dtype)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--conv", action="store_true", help="also compare ways of running the position conv")
    ap.add_argument("--variants", default="engine", help="engine,flip_rope,static_compile")
    args = ap.parse_args()

    bm = BenchModel()
    synth = bm.synthesizer("cuda", "float16")
    res: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cases": {}}
    if args.conv:
        res["conv"] = conv_check(synth)
        print(json.dumps(res["conv"]), flush=True)
    from bot.engine.graphs import GraphedSampler

    for variant in args.variants.split(","):
        use_variant(synth, variant)
        synth.graphs = GraphedSampler(synth.fast, synth.engine.max_graphs)  # a fresh pool per variant
        for case in args.cases.split(","):
            res["cases"][f"{case}/{variant}"] = row = profile_case(synth, CASES[case], args.reps)
            print(json.dumps({case: row}), flush=True)

    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(f"\n{res['device']}, torch {res['torch']}")
    print(
        f"{'case':<10} {'rows':>4} {'N':>5} | {'total':>7} {'tok':>5} {'prep':>5} {'replay':>7} {'voc':>5} | "
        "groups (eager kernels, ms)"
    )
    for case, r in res["cases"].items():
        g = r["eager_kernels"]["groups_ms"]
        print(
            f"{case:<10} {r['rows']:>4} {r['length']:>5} | {r['total_ms']:>7.1f} {r['tokenise_ms']:>5.1f} "
            f"{r['prepare_ms']:>5.1f} {r['replay_ms']:>7.1f} {r['vocode_ms']:>5.1f} | "
            + " ".join(f"{k} {val:.1f}" for k, val in g.items())
            + f" (sum {r['eager_kernels']['kernel_ms']:.1f}, {r['eager_kernels']['launches']} launches;"
            f" graph view {r['graph_kernels']['kernel_ms']:.1f})"
        )


if __name__ == "__main__":
    main()
