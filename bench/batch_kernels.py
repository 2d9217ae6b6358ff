"""Where a batched pass spends its GPU time, and what masked attention costs (issue 19 item 3).

    python bench/batch_kernels.py --work /tmp/bk --out $OUT [--variants sdpa,flash]

1. A kernel-time profile (torch.profiler, compiled blocks without CUDA graphs so each kernel is seen) of
   one short danmaku, eight alike, and the longer half of the eight mixed-length danmaku, summed by
   kind: matrix products, attention, inductor's fused kernels, convolutions, the rest.
2. For each attention variant named in `--variants`, a fresh prepared engine (compiled per bucket, CUDA
   graphs) timing one short danmaku, 4 and 8 alike, and the eight mixed through `synthesize_batch`; and
   how far each variant's mel for the mixed batch is from the default's (padding must stay unheard).
   Variants: `sdpa` (the engine's: SDPA with a boolean key mask), `flash` (flash attention's variable-length
   kernel over the padded rows, each row's keys cut to its length with `seqused_k`: no mask tensor),
   `nomask` (not a candidate: padding is heard; the cost of attention with nothing to exclude).

3. `--conv`: the convolutional position embedding's grouped convolution (1024 channels in 16 groups,
   kernel 31) alone, at the rows and lengths of the cases above, in each form below, with cuDNN's
   algorithm search off and on; error against a float32 reference.

Prints a short table; writes `batch_kernels.json` under `--out`.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import SHORT_DANMAKU, TEXTS, BenchModel, cuda_median_s
from ready_and_batches import MIXED

SDPA = None  # the engine's own attention, kept before a variant replaces it
KINDS = {  # in this order: cuDNN's attention and convolution kernels carry "cutlass" in their names too
    "attention": ("flash", "fmha", "attention", "attn", "sdpa"),
    "convolution": ("fprop", "conv", "nhwc"),
    "matmul": ("gemm", "cutlass", "nvjet", "xmma", "cublas"),
    "fused (inductor)": ("triton",),
}


def kind_of(name: str) -> str:
    low = name.lower()
    for kind, marks in KINDS.items():
        if any(m in low for m in marks):
            return kind
    return "other"


def flash_attention(q: Any, k: Any, v: Any, key_mask: Any) -> Any:
    """Attention over (rows, N, heads, d) with each row's keys cut to its length by flash attention's
    `seqused_k` (rows laid end to end as variable-length sequences of N frames each)."""
    import torch


    if key_mask is None or not q.is_cuda:
        return SDPA(q, k, v, key_mask)
    rows, n, heads, d = q.shape
    used = key_mask.reshape(rows, n).sum(-1, dtype=torch.int32)
    starts = torch.arange(0, (rows + 1) * n, n, device=q.device, dtype=torch.int32)
    out = torch.ops.aten._flash_attention_forward(
        q.reshape(rows * n, heads, d), k.reshape(rows * n, heads, d), v.reshape(rows * n, heads, d),
        starts, starts, n, n, 0.0, False, False, seqused_k=used,
    )[0]
    return out.view(rows, n, heads, d)


def no_mask_attention(q: Any, k: Any, v: Any, key_mask: Any) -> Any:
    """Not a candidate (padding is heard): what attention would cost with no padding to exclude."""
    return SDPA(q, k, v, None)


def profile(be: Any, groups: dict[str, list[Any]]) -> dict[str, Any]:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    out: dict[str, Any] = {}
    for name, pieces in groups.items():
        with torch.inference_mode():
            items = [(p.ref_mel, p.ids, p.duration, be.initial_noise(p.duration, 0)) for p in pieces]
            batch = be.fast.prepare(items, be.bucketed(max(p.duration for p in pieces)))
            for _ in range(2):
                be.fast.sample(batch)
            torch.cuda.synchronize()
            with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
                be.fast.sample(batch)
                torch.cuda.synchronize()
        by_kind: dict[str, float] = defaultdict(float)
        top: dict[str, float] = defaultdict(float)
        for ev in prof.events():
            if ev.device_type.name == "CUDA":
                by_kind[kind_of(ev.name)] += ev.device_time / 1000
                top[ev.name[:90]] += ev.device_time / 1000
        total = sum(by_kind.values())
        out[name] = {
            "rows": 2 * len(pieces),
            "frames": be.bucketed(max(p.duration for p in pieces)),
            "gpu_ms": round(total, 2),
            "share": {k: round(v / total, 3) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
            "top_kernels_ms": {k: round(v, 2) for k, v in sorted(top.items(), key=lambda kv: -kv[1])[:12]},
        }
    return out


def timings(bm: BenchModel, cache: Path) -> tuple[dict[str, Any], Any]:
    import torch

    from bot.testing import engine

    synth = bm.synthesizer("cuda", "float16", cache_dir=str(cache))
    be = engine.backend(synth)
    out: dict[str, Any] = {}
    short = cuda_median_s(lambda: synth.synthesize(TEXTS["short"], "ref"))
    out["short_ms"] = round(1000 * short, 1)
    for b in (4, 8):
        t = cuda_median_s(lambda b=b: synth.synthesize_batch([(x, "ref") for x in SHORT_DANMAKU[:b]]))
        out[f"alike{b}_over_short"] = round(t / short, 2)
    t = cuda_median_s(lambda: synth.synthesize_batch([(x, "ref") for x in MIXED]))
    out["mixed8_over_short"] = round(t / short, 2)
    pieces = sorted((engine.pieces(synth, x, "ref")[0] for x in MIXED), key=lambda p: p.duration)
    with torch.inference_mode():
        items = [(p.ref_mel, p.ids, p.duration, be.initial_noise(p.duration, 0)) for p in pieces]
        batch = be.fast.prepare(items, be.bucketed(pieces[-1].duration))
        mel = be.fast.sample(batch).float().clone()
    return out, (synth, be, pieces, mel)


def conv_forms(rows_list: list[int], n: int) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(1024, 1024, 31, padding=15, groups=16).cuda()
    w32, b32 = conv.weight.detach(), conv.bias.detach()
    w, b = w32.half(), b32.half()
    w_cl = w.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    w_bmm = w.view(16, 64, 64, 31).permute(0, 2, 3, 1).reshape(16, 64 * 31, 64).contiguous()

    def conv2d_cl(y: Any) -> Any:
        return F.conv2d(y.transpose(1, 2).unsqueeze(2), w_cl, b, padding=(0, 15), groups=16).squeeze(2).transpose(1, 2)

    def conv1d(y: Any) -> Any:
        return F.conv1d(y.transpose(1, 2).contiguous(), w, b, padding=15, groups=16).transpose(1, 2)

    def unfold_bmm(y: Any) -> Any:
        rows, length, _ = y.shape
        cols = F.pad(y, (0, 0, 15, 15)).unfold(1, 31, 1)  # (rows, N, 1024, 31) view
        cols = cols.reshape(rows * length, 16, 64 * 31).transpose(0, 1)  # (16, rows*N, 64*31)
        out = torch.bmm(cols, w_bmm)  # (16, rows*N, 64)
        return out.transpose(0, 1).reshape(rows, length, 1024) + b

    from bot.engine.position_conv import PositionConv

    kernel = PositionConv([conv.half()])
    keep = None

    def triton_mish(y: Any) -> Any:  # the kernel fuses Mish and the mask: compare with them added to cuDNN's
        return kernel(y, keep)

    def conv2d_cl_mish(y: Any) -> Any:
        return F.mish(conv2d_cl(y.masked_fill(~keep, 0.0))).masked_fill(~keep, 0.0)

    forms = {"conv2d_cl": conv2d_cl, "conv1d": conv1d, "unfold_bmm": unfold_bmm, "conv2d_cl+mish+mask": conv2d_cl_mish,
             "triton(conv+mish+mask)": triton_mish}
    res: dict[str, Any] = {}
    for rows in rows_list:
        y = torch.randn(rows, n, 1024, device="cuda")
        keep = torch.ones(rows, n, 1, dtype=torch.bool, device="cuda")
        keep[:, n - 40 :] = False
        ref = F.conv1d(y.transpose(1, 2), w32, b32, padding=15, groups=16).transpose(1, 2)
        ref_mish = F.mish(F.conv1d(y.masked_fill(~keep, 0.0).transpose(1, 2), w32, b32, padding=15, groups=16)
                          .transpose(1, 2)).masked_fill(~keep, 0.0)
        yh = y.half()
        for bench_flag in (False, True):
            torch.backends.cudnn.benchmark = bench_flag
            for name, fn in forms.items():
                if bench_flag and name in ("unfold_bmm", "triton(conv+mish+mask)"):
                    continue
                with torch.inference_mode():
                    t = cuda_median_s(lambda fn=fn, yh=yh: [fn(yh) for _ in range(20)], runs=5, warm=2) / 20
                    err = float((fn(yh).float() - (ref_mish if "mish" in name else ref)).abs().max())
                key = f"rows{rows}_{name}{'_benchmark' if bench_flag else ''}"
                res[key] = {"us": round(1e6 * t, 1), "max_err": err}
        torch.backends.cudnn.benchmark = False
    return res


def main() -> None:
    import torch
    import torch._dynamo

    from bot.engine import fast_dit

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", default="sdpa,flash")
    ap.add_argument("--conv", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    bm = BenchModel(args.work)
    res: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    global SDPA
    SDPA = fast_dit._attention
    variants = {"sdpa": SDPA, "flash": flash_attention, "nomask": no_mask_attention}
    reference_mel = None
    if args.conv:
        res["conv"] = {n: conv_forms([2, 8, 16], n) for n in (896, 1024)}
        for n, forms in res["conv"].items():
            for key, r in forms.items():
                print(f"conv N {n} {key:28} {r['us']:8.1f} us  err {r['max_err']:.1e}")
    for name in [v for v in args.variants.split(",") if v]:
        torch._dynamo.reset()
        fast_dit._attention = variants[name]
        row, (synth, be, pieces, mel) = timings(bm, args.work / f"cache-{name}")
        if reference_mel is None:
            reference_mel = mel
        valid = torch.zeros_like(mel, dtype=torch.bool)
        for i, p in enumerate(pieces):
            valid[i, : p.duration] = True
        row["mixed_mel_max_abs_vs_sdpa"] = float((mel - reference_mel)[valid].abs().max())
        row["profile"] = profile(be, {
            "short": [synth_piece(synth, TEXTS["short"])],
            "alike8": [synth_piece(synth, x) for x in SHORT_DANMAKU],
            "mixed_longer4": pieces[4:],
        })
        res[name] = row
        del synth, be
        torch.cuda.empty_cache()
    (args.out / "batch_kernels.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(f"{'variant':8} {'short ms':>9} {'4 alike':>8} {'8 alike':>8} {'8 mixed':>8} {'mel diff':>9}")
    for name in [v for v in args.variants.split(",") if v]:
        r = res[name]
        print(f"{name:8} {r['short_ms']:9} {r['alike4_over_short']:8} {r['alike8_over_short']:8} "
              f"{r['mixed8_over_short']:8} {r['mixed_mel_max_abs_vs_sdpa']:9.2e}")
        for case, p in r["profile"].items():
            shares = ", ".join(f"{k} {v:.0%}" for k, v in p["share"].items())
            print(f"   {case:14} rows {p['rows']:3} N {p['frames']:5} gpu {p['gpu_ms']:8.1f} ms  {shares}")


def synth_piece(synth: Any, text: str) -> Any:
    from bot.testing import engine

    return engine.pieces(synth, text, "ref")[0]


if __name__ == "__main__":
    main()
