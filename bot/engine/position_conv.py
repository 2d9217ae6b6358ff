"""The convolutional position embedding (grouped conv, Mish, masked; twice) as one Triton kernel per conv.

Why a kernel of our own: F5-TTS's position embedding is a grouped 1-D convolution (1024 channels in 16
groups of 64, kernel 31), run twice per sampling step. cuDNN's kernel for it took 240-390 us per call on an
H200 whatever the batch (2 to 16 rows cost the same: it is latency-bound), ~355 us with the Mish and masks
around it. Written as what it is, 31 small matrix products per (position tile, group, row) with the input
mask, bias, Mish and the output mask in the same pass, it takes 35 us for a short danmaku's 2 rows; the
sampling loop of a short danmaku went from 52-53 to 48-50 ms (docs/benchmarks.md, "What a batched pass
spends its time on").

Used on the prepared path only (set up with the compiled blocks, where `fast_dit.position_conv_fits`
says the device, dtype and an installed Triton allow it; its first compile happens during warm-up); the
eager path keeps cuDNN, so the first message after a start never waits for a kernel compile.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK_N = 64
"""Positions per program: 64 x 64 tiles feed the tensor cores, and a short danmaku (2 rows of ~900
frames, 16 groups) still makes ~450 programs, enough to fill an H200's 132 SMs."""


@triton.jit  # type: ignore[untyped-decorator]
def _conv_mish_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    w_ptr,
    b_ptr,
    keep_ptr,
    out_ptr,
    length,
    stride_row,
    KSIZE: tl.constexpr,
    GROUP: tl.constexpr,
    CHANNELS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Triton reads the parameters' annotations, so only its own constexpr marks are written."""
    tile, g, row = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    pos = tile * BLOCK + tl.arange(0, BLOCK)
    ch = tl.arange(0, GROUP)
    x_row = x_ptr + row * stride_row + g * GROUP
    keep_row = keep_ptr + row * length
    acc = tl.zeros((BLOCK, GROUP), dtype=tl.float32)
    for t in range(KSIZE):
        src = pos + t - KSIZE // 2
        ok = (src >= 0) & (src < length)
        ok = ok & (tl.load(keep_row + src, mask=ok, other=0) != 0)  # masked frames read as zeros
        x = tl.load(x_row + src[:, None] * CHANNELS + ch[None, :], mask=ok[:, None], other=0.0)
        w = tl.load(w_ptr + ((g * KSIZE + t) * GROUP + ch[:, None]) * GROUP + ch[None, :])
        acc += tl.dot(x, w.to(x.dtype))
    acc += tl.load(b_ptr + g * GROUP + ch).to(tl.float32)[None, :]
    # Mish: x * tanh(softplus(x)); softplus past 20 is x itself (as torch), tanh of a non-negative s
    # as (1 - e^-2s) / (1 + e^-2s), which cannot overflow.
    soft = tl.where(acc > 20.0, acc, tl.log(1.0 + tl.exp(tl.minimum(acc, 20.0))))
    e = tl.exp(-2.0 * soft)
    y = acc * (1.0 - e) / (1.0 + e)
    inside = pos < length
    keep = tl.load(keep_row + pos, mask=inside, other=0) != 0
    y = tl.where(keep[:, None], y, 0.0)
    tl.store(out_ptr + row * stride_row + pos[:, None] * CHANNELS + g * GROUP + ch[None, :],
             y.to(out_ptr.dtype.element_ty), mask=inside[:, None])


class PositionConv:
    """ConvPositionEmbedding's two convolutions (each followed by Mish and zeroing masked frames) for
    (rows, N, channels) activations laid out contiguously, on CUDA in float16/bfloat16."""

    def __init__(self, convs: list[torch.nn.Conv1d]) -> None:
        self.groups = convs[0].groups
        self.ksize = convs[0].kernel_size[0]
        group = convs[0].in_channels // self.groups
        # (out, in/groups, k) -> (groups, k, in, out): one contiguous (in, out) matrix per group and tap
        self.weights = [
            c.weight.detach().view(self.groups, group, group, self.ksize).permute(0, 3, 2, 1).contiguous()
            for c in convs
        ]
        self.biases = [c.bias.detach() for c in convs]  # type: ignore[union-attr]

    def __call__(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """h: (rows, N, channels); keep: (rows, N, 1) bool, the frames that exist. Returns the embedding
        (zero on frames not kept), as `_conv_pos` in bot/engine/fast_dit.py computes it with cuDNN."""
        rows, length, channels = h.shape
        keep_u8 = keep.reshape(rows, length).to(torch.uint8)
        y = h.contiguous()
        grid = (triton.cdiv(length, BLOCK_N), self.groups, rows)
        for w, b in zip(self.weights, self.biases, strict=True):
            out = torch.empty_like(y)
            _conv_mish_kernel[grid](
                y, w, b, keep_u8, out, length, length * channels,
                KSIZE=self.ksize, GROUP=channels // self.groups, CHANNELS=channels, BLOCK=BLOCK_N,
            )
            y = out
        return y
