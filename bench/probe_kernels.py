"""Probe: the two hot spots bench/probe_profile.py found, each way of computing them, at the DiT's shapes.

1. The convolutional position embedding (Conv1d 1024 -> 1024, kernel 31, 16 groups): cuDNN runs it as
   16 launches of a generic kernel plus layout transposes.
2. Attention over a padded bucket, by backend and way of masking (the suspicion that the compiled
   graph materialised an N x N bias turned out wrong: the slow kernel was the dynamic-shape RoPE).

Each variant is captured in a CUDA graph of 10 calls and replayed (launch overhead excluded); the error
is against fp32 math on the unpadded frames.

python bench/probe_kernels.py --out kernels.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def per_call_us(fn: Any, calls: int = 10, reps: int = 10) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(calls):
            fn()
    g.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        g.replay()
    end.record()
    torch.cuda.synchronize()
    return round(start.elapsed_time(end) * 1000 / (calls * reps), 1)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def conv_variants(rows: int, n: int) -> dict[str, Any]:
    dim, k, groups = 1024, 31, 16
    h = torch.randn(rows, n, dim, device="cuda", dtype=torch.float16)
    w = torch.randn(dim, dim // groups, k, device="cuda", dtype=torch.float16) * 0.02
    b = torch.randn(dim, device="cuda", dtype=torch.float16) * 0.02
    ref = F.conv1d(h.float().transpose(1, 2), w.float(), b.float(), padding=k // 2, groups=groups).transpose(1, 2)
    w2 = w.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    wg = w.view(groups, dim // groups, dim // groups, k).permute(0, 3, 2, 1).contiguous()  # (g, k, cin, cout)

    def conv1d() -> torch.Tensor:
        return F.conv1d(h.transpose(1, 2), w, b, padding=k // 2, groups=groups).transpose(1, 2)

    def conv2d_nhwc() -> torch.Tensor:
        x = h.transpose(1, 2).unsqueeze(2)  # (R, C, 1, N) with channels-last strides: no copy
        return F.conv2d(x, w2, b, padding=(0, k // 2), groups=groups).squeeze(2).transpose(1, 2)

    def taps_bmm() -> torch.Tensor:
        # sum over taps of shifted (R*N, g, cin) @ (g, cin, cout): 31 batched GEMMs over the 16 groups
        xp = F.pad(h, (0, 0, k // 2, k // 2)).view(rows, n + k - 1, groups, dim // groups)
        out = torch.zeros(groups, rows * n, dim // groups, device="cuda", dtype=torch.float32)
        for t in range(k):
            xt = xp[:, t : t + n].reshape(rows * n, groups, dim // groups).transpose(0, 1)
            out += torch.bmm(xt, wg[:, t]).float()
        return (out.transpose(0, 1).reshape(rows, n, dim) + b).to(h.dtype)

    def unfold_einsum() -> torch.Tensor:
        xp = F.pad(h, (0, 0, k // 2, k // 2))
        u = xp.unfold(1, k, 1).reshape(rows, n, groups, dim // groups, k)  # (R, N, g, cin, k)
        return (
            torch.einsum("rngct,goct->rngo", u, w.view(groups, dim // groups, dim // groups, k)).reshape(rows, n, dim)
            + b
        )

    out: dict[str, Any] = {}
    for name, fn, bench_flag in (
        ("conv1d", conv1d, False),
        ("conv1d_benchmark", conv1d, True),
        ("conv2d_nhwc", conv2d_nhwc, False),
        ("conv2d_nhwc_benchmark", conv2d_nhwc, True),
        ("unfold_einsum", unfold_einsum, False),
        ("taps_bmm", taps_bmm, False),
    ):
        torch.backends.cudnn.benchmark = bench_flag
        try:
            err = rel(fn().float(), ref)
            out[name] = {"us": per_call_us(fn), "rel_err": round(err, 6)}
        except Exception as exc:  # a probe reports what fails
            out[name] = {"error": str(exc).splitlines()[0][:120]}
    torch.backends.cudnn.benchmark = False
    return out


def attention_variants(rows: int, n: int, lens: list[int]) -> dict[str, Any]:
    heads, d = 16, 64
    q, k, v = (torch.randn(rows, heads, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
    lens_t = torch.tensor(lens, device="cuda")
    valid = torch.arange(n, device="cuda")[None, :] < lens_t[:, None]  # (R, N)
    mask = valid[:, None, None, :]
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    qmask = valid[:, None, :, None]
    scale = 1 / math.sqrt(d)
    extra = 8
    key_bias = torch.where(valid, 0.0, -30000.0).to(q.dtype)  # (R, N)

    def widen(t: torch.Tensor, last: torch.Tensor | float) -> torch.Tensor:
        pad = torch.zeros(*t.shape[:-1], extra, device="cuda", dtype=t.dtype)
        if isinstance(last, torch.Tensor):
            pad[..., 0] = last
        else:
            pad[..., 0] = last
        return torch.cat([t, pad], dim=-1)

    qw, kw, vw = widen(q, 1.0), widen(k, key_bias[:, None, :]), widen(v, 0.0)

    def with_backend(backend: SDPBackend, m: torch.Tensor | None, qq=q, kk=k, vv=v, sc=None) -> Any:  # type: ignore[no-untyped-def]
        def fn() -> torch.Tensor:
            with sdpa_kernel([backend]):
                return F.scaled_dot_product_attention(qq, kk, vv, attn_mask=m, scale=sc)

        return fn

    def widened(backend: SDPBackend) -> Any:
        def fn() -> torch.Tensor:
            with sdpa_kernel([backend]):
                qq, kk, vv = widen(q, 1.0), widen(k, key_bias[:, None, :]), widen(v, 0.0)
                return F.scaled_dot_product_attention(qq, kk, vv, scale=scale)[..., :d]

        return fn

    from torch.nn.attention.flex_attention import flex_attention

    flex = torch.compile(flex_attention, dynamic=False)

    def score_mod(score: torch.Tensor, b: Any, h: Any, qi: Any, ki: Any) -> torch.Tensor:
        return torch.where(ki < lens_t[b], score, -float("inf"))

    def flex_fn() -> torch.Tensor:
        return flex(q, k, v, score_mod=score_mod)

    out: dict[str, Any] = {}
    for name, fn, masked in (
        ("flash_nomask_floor", with_backend(SDPBackend.FLASH_ATTENTION, None), False),
        ("cudnn_nomask_floor", with_backend(SDPBackend.CUDNN_ATTENTION, None), False),
        ("cudnn_boolmask", with_backend(SDPBackend.CUDNN_ATTENTION, mask), True),
        ("efficient_boolmask", with_backend(SDPBackend.EFFICIENT_ATTENTION, mask), True),
        ("cudnn_d72_only", with_backend(SDPBackend.CUDNN_ATTENTION, None, qw, kw, vw, scale), True),
        ("flash_d72_only", with_backend(SDPBackend.FLASH_ATTENTION, None, qw, kw, vw, scale), True),
        ("cudnn_d72_with_widen", widened(SDPBackend.CUDNN_ATTENTION), True),
        ("flex_score_mod", flex_fn, True),
    ):
        try:
            o = fn()[..., :d].float()
            entry: dict[str, Any] = {"us": per_call_us(fn)}
            if masked:
                entry["rel_err_valid"] = round(rel(o * qmask, ref * qmask), 6)
            out[name] = entry
        except Exception as exc:
            out[name] = {"error": str(exc).splitlines()[0][:120]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    res: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    shapes = {
        "short_b1": (2, 896, [843, 843]),
        "medium_b1": (2, 1472, [1445, 1445]),
        "long_b1": (4, 1920, [1866, 1103, 1866, 1103]),
        "short_b8": (16, 896, [843] * 3 + [822] * 5 + [843] * 3 + [822] * 5),
    }
    for case, (rows, n, lens) in shapes.items():
        res[case] = {"conv": conv_variants(rows, n), "attention": attention_variants(rows, n, lens)}
        print(json.dumps({case: res[case]}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(f"\n{res['device']}, torch {res['torch']} (us per call; rel err vs fp32 on valid frames)")
    for case in shapes:
        for kind in ("conv", "attention"):
            cells = []
            for name, e in res[case][kind].items():
                err = e.get("rel_err", e.get("rel_err_valid"))
                if "us" not in e:
                    cells.append(f"{name} ERR")
                    continue
                cells.append(f"{name} {e['us']}" + (f" ({err:.0e})" if err is not None else ""))
            print(f"{case:<10} {kind:<9} " + " | ".join(cells))


if __name__ == "__main__":
    main()
