"""Probe: cost of masked attention (bucket padding) per SDPA backend at the DiT's shapes (16 heads x 64).

python bench/probe_attention.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def bench(fn, reps: int = 50) -> float:  # type: ignore[no-untyped-def]
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps * 1000  # microseconds


def main() -> None:
    print(
        f"{'rows':>4} {'N':>5} {'valid':>5} | {'flash nomask':>12} {'effic mask':>10} {'cudnn mask':>10} "
        f"{'math mask':>9} | maxdiff cudnn"
    )
    for rows, n, valid in ((2, 896, 843), (16, 896, 843), (2, 1472, 1443), (16, 1472, 1443)):
        q, k, v = (torch.randn(rows, 16, n, 64, device="cuda", dtype=torch.float16) for _ in range(3))
        mask = (torch.arange(n, device="cuda") < valid)[None, None, None, :].expand(rows, 1, 1, n)
        res = {}
        outs = {}
        for name, backend, m in (
            ("flash", SDPBackend.FLASH_ATTENTION, None),
            ("eff", SDPBackend.EFFICIENT_ATTENTION, mask),
            ("cudnn", SDPBackend.CUDNN_ATTENTION, mask),
            ("math", SDPBackend.MATH, mask),
        ):
            try:
                with sdpa_kernel([backend]):
                    outs[name] = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
                    res[name] = bench(lambda q=q, k=k, v=v, m=m: F.scaled_dot_product_attention(q, k, v, attn_mask=m))
            except RuntimeError as err:
                res[name] = float("nan")
                print(name, "unsupported:", str(err).splitlines()[0][:100])
        diff = (outs["cudnn"] - outs["eff"]).abs().max().item() if "cudnn" in outs else float("nan")
        print(
            f"{rows:>4} {n:>5} {valid:>5} | {res['flash']:>10.1f}us {res['eff']:>8.1f}us {res['cudnn']:>8.1f}us "
            f"{res['math']:>7.1f}us | {diff:.2e}"
        )


if __name__ == "__main__":
    main()
