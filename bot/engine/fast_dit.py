"""An inference-only, static-shape restructuring of f5-tts's DiT sampling loop.

It shares the DiT module's weights and computes the same function as upstream's `CFM.sample` (checked
in CI to 1e-4 in fp32), reorganised so that a whole NFE loop can be captured in one CUDA graph:

- what depends only on the time step is precomputed for the fixed schedule: the timestep embedding,
  every block's AdaLN modulation (6 x dim per block and step) and the final layer's;
- what depends only on the utterance is computed once per utterance, at its exact length: the text
  embedding (its ConvNeXt/GRN layers mix positions, so it must not see bucket padding) and the
  reference/text part of the input projection (a linear layer: proj(cat(x, c, t)) = Wx x + (Wc c + Wt t + b));
- per step only the noisy mel's part of the projection, the convolutional position embedding and the
  transformer blocks run; Q, K and V come from one fused GEMM; RoPE cos/sin tables are cached per length;
  classifier-free guidance is one batch of 2B rows (conditional rows, then unconditional rows).

Sequences are padded to a bucket length so shapes repeat. Padding is masked, never heard: padded
keys are excluded from attention, padded frames are zeroed before every convolution (exactly the zeros
an unpadded convolution sees past the end) and after every Euler step. Each item of a batch therefore
gets the same result as alone, up to floating-point reassociation.

Two layouts come from kernel profiles on an H100 (docs/benchmarks.md, "Where the time goes"):
- RoPE and the attention inputs stay in the projection's (rows, N, heads, d) layout, and SDPA takes
  transposed views: rotating after a transpose made inductor's fused kernel ~3x slower (strided writes);
- the grouped position convolution runs as a 2-D convolution over channels-last strides (the (B, N, D)
  activations as they are), which spares cuDNN its layout transposes (~105 vs ~140 us per call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from bot.engine.sampler import time_grid
from bot.engine.text_embed import can_batch, embed_text_rows

if TYPE_CHECKING:  # imported with the compiler (it needs Triton, which a Jetson may lack)
    from bot.engine.position_conv import PositionConv


@dataclass
class PreparedBatch:
    """Static inputs of one sampling run (batch B, bucket length N); reused as CUDA-graph inputs."""

    noise: torch.Tensor  # (B, N, 100); zero past each item's length
    base: torch.Tensor  # (2B, N, dim): Wc cond + Wt text + b, conditional rows then unconditional rows
    valid: torch.Tensor  # (B, N, 1) model dtype, 1 on frames that exist
    key_mask: torch.Tensor | None  # (2B, 1, 1, N) bool, None when nothing is padded
    conv_mask: torch.Tensor  # (2B, N, 1) bool


class FastDiT:
    def __init__(self, dit: Any, nfe: int, cfg_strength: float, sway: float | None) -> None:
        self.dit = dit
        self.nfe = nfe
        self.cfg = cfg_strength
        p = next(dit.parameters())
        self.device, self.dtype = p.device, p.dtype
        blocks = dit.transformer_blocks
        self.heads = blocks[0].attn.heads
        self.pe_attn_head = blocks[0].attn.processor.pe_attn_head
        self.w_qkv = [torch.cat([b.attn.to_q.weight, b.attn.to_k.weight, b.attn.to_v.weight]) for b in blocks]
        self.b_qkv = [torch.cat([b.attn.to_q.bias, b.attn.to_k.bias, b.attn.to_v.bias]) for b in blocks]
        proj = dit.input_embed.proj
        mel_dim = dit.proj_out.out_features
        self.mel_dim = mel_dim
        self.w_x = proj.weight[:, :mel_dim]
        self.w_cond = proj.weight[:, mel_dim : 2 * mel_dim]
        self.w_text = proj.weight[:, 2 * mel_dim :]
        conv = dit.input_embed.conv_pos_embed.conv1d
        # cuDNN takes channels-last 2-D weights and activations as they are; CPU kernels run the plain
        # 1-D convolution 2.5x faster than that (2 cores, 2026-11-25), so each device gets its own form.
        cuda = self.device.type == "cuda"
        self.conv_w = [
            conv[i].weight.unsqueeze(2).contiguous(memory_format=torch.channels_last) if cuda else conv[i].weight
            for i in (0, 2)
        ]
        self.conv_b = [conv[i].bias for i in (0, 2)]
        self.conv_groups = conv[0].groups
        self._convs = [conv[0], conv[2]]
        self._position_conv: PositionConv | None = None
        """The Triton kernel for the position convolutions (bot/engine/position_conv.py), set up with the
        compiled blocks; None: cuDNN."""
        self._rope: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._block_fn: Any = block_forward
        with torch.inference_mode():
            t = time_grid(nfe, sway, self.device, self.dtype)
            self.dt = [(t[i + 1] - t[i]).clone() for i in range(nfe)]
            temb = torch.cat([dit.time_embed(t[i].reshape(1)) for i in range(nfe)])  # (nfe, dim), as upstream
            silu = F.silu(temb)
            # (nfe, depth, 6, dim): shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
            self.block_mod = torch.stack(
                [b.attn_norm.linear(silu).unflatten(-1, (6, -1)) for b in blocks], dim=1
            ).contiguous()
            self.final_mod = dit.norm_out.linear(silu).unflatten(-1, (2, -1)).contiguous()  # scale, shift

    # -- per utterance -------------------------------------------------------------------------------

    @torch.inference_mode()
    def prepare(self, items: list[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]], length: int) -> PreparedBatch:
        """items: (ref_mel (1, n_ref, 100), text ids (1, nt), duration n, noise (1, n, 100)); all n <= length."""
        b = len(items)
        lens = [n for _, _, n, _ in items]
        noise = torch.zeros(b, length, self.mel_dim, device=self.device, dtype=self.dtype)
        cond = torch.zeros(b, length, self.mel_dim, device=self.device, dtype=self.dtype)
        for i, (ref_mel, _, n, item_noise) in enumerate(items):
            cond[i, : ref_mel.shape[1]] = ref_mel[0]
            noise[i, :n] = item_noise[0]
        text = self._text_rows([ids for _, ids, _, _ in items], lens, length)  # conditional rows, then dropped
        base = F.linear(text, self.w_text, self.dit.input_embed.proj.bias)
        base[:b] = F.linear(cond, self.w_cond) + base[:b]
        lens_t = torch.tensor(lens, device=self.device)
        frames = torch.arange(length, device=self.device)
        valid = frames[None, :] < lens_t[:, None]  # (B, N)
        valid2 = torch.cat([valid, valid])
        padded = any(n < length for n in lens)
        return PreparedBatch(
            noise=noise,
            base=base * valid2.unsqueeze(-1),
            valid=valid.unsqueeze(-1).to(self.dtype),
            key_mask=valid2[:, None, None, :] if padded else None,
            conv_mask=valid2.unsqueeze(-1),
        )

    def _text_rows(self, ids: list[torch.Tensor], lens: list[int], length: int) -> torch.Tensor:
        """(2B, length, text_dim): each item's text embedding, then its text-dropped one (CFG), each at
        the item's own length and zero past it."""
        te = self.dit.text_embed
        if can_batch(te):
            return embed_text_rows(te, ids + ids, lens + lens, [False] * len(ids) + [True] * len(ids), length)
        rows = torch.zeros(2 * len(ids), length, te.text_embed.embedding_dim, device=self.device, dtype=self.dtype)
        for r, (row_ids, n) in enumerate(zip(ids + ids, lens + lens, strict=True)):
            rows[r, :n] = te(row_ids, seq_len=n, drop_text=r >= len(ids))[0]
        return rows

    def rope(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin tables (1, N, 1, dim_head) in float32, for activations laid out (rows, N, heads, d)."""
        if length not in self._rope:
            freqs, _ = self.dit.rotary_embed.forward_from_seq_len(length)  # (1, N, dim_head), float32
            self._rope[length] = (freqs.cos()[:, :, None], freqs.sin()[:, :, None])
        return self._rope[length]

    # -- the loop (graph-capturable: no host sync, no allocation that depends on data) -------------------

    @torch.inference_mode()
    def sample(self, batch: PreparedBatch, eager: bool = False) -> torch.Tensor:
        """Integrate from `batch.noise`; returns (B, N, 100). Padded frames come back as zeros. `eager`
        runs the blocks uncompiled: a shape not compiled yet is served now instead of compiled first."""
        x = batch.noise
        rope = self.rope(x.shape[1])
        for step in range(self.nfe):
            x = (x + self.dt[step] * self.flow(x, batch, step, rope, eager)) * batch.valid
        return x

    def flow(
        self,
        x: torch.Tensor,
        batch: PreparedBatch,
        step: int,
        rope: tuple[torch.Tensor, torch.Tensor],
        eager: bool = False,
    ) -> torch.Tensor:
        xp = F.linear(x, self.w_x)
        h = batch.base + torch.cat([xp, xp])
        if self._position_conv is not None and not eager:
            h = self._position_conv(h, batch.conv_mask) + h
        else:
            h = self._conv_pos(h, batch.conv_mask) + h
        for j, block in enumerate(self.dit.transformer_blocks):
            h = self._block(j, block, h, self.block_mod[step, j], batch.key_mask, rope, eager)
        scale, shift = self.final_mod[step]
        h = F.layer_norm(h, h.shape[-1:], eps=1e-6) * (1 + scale) + shift
        out = self.dit.proj_out(h)
        pred, null = torch.chunk(out, 2, dim=0)
        flow: torch.Tensor = pred + (pred - null) * self.cfg
        return flow

    def _conv_pos(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ConvPositionEmbedding (conv, Mish, conv, Mish) on (B, N, D)."""
        y = h.masked_fill(~mask, 0.0)
        for w, b in zip(self.conv_w, self.conv_b, strict=True):
            pad = w.shape[-1] // 2
            if w.dim() == 4:  # (B, D, 1, N) view of the (B, N, D) tensor: channels-last strides, no copy
                out = F.conv2d(y.transpose(1, 2).unsqueeze(2), w, b, padding=(0, pad), groups=self.conv_groups)
                y = out.squeeze(2).transpose(1, 2)
            else:
                y = F.conv1d(y.transpose(1, 2), w, b, padding=pad, groups=self.conv_groups).transpose(1, 2)
            y = F.mish(y).masked_fill(~mask, 0.0)
        return y

    def _block(
        self,
        j: int,
        block: Any,
        h: torch.Tensor,
        mod: torch.Tensor,
        key_mask: torch.Tensor | None,
        rope: tuple[torch.Tensor, torch.Tensor],
        eager: bool = False,
    ) -> torch.Tensor:
        attn, ff = block.attn, block.ff.ff
        args = (
            h,
            mod,
            self.w_qkv[j],
            self.b_qkv[j],
            attn.to_out[0].weight,
            attn.to_out[0].bias,
            ff[0][0].weight,
            ff[0][0].bias,
            ff[2].weight,
            ff[2].bias,
            rope[0],
            rope[1],
            key_mask,
        )
        if attn.q_norm is not None:  # qk-norm models: eager, with the block's own norm modules
            return block_forward(
                *args, heads=self.heads, pe_attn_head=self.pe_attn_head, qk_norm=(attn.q_norm, attn.k_norm)
            )
        block_fn = block_forward if eager else self._block_fn
        out: torch.Tensor = block_fn(*args, heads=self.heads, pe_attn_head=self.pe_attn_head)
        return out

    def compile(self, cache_dir: str | None, per_shape: bool = True, max_shapes: int = 64) -> None:
        """Fuse each block's elementwise work (norms, modulation, RoPE, GELU, gates) with torch.compile.

        One compiled graph serves all blocks (weights are arguments, not constants). `per_shape` compiles
        each (rows, length) shape on its own: with static shapes inductor's kernels index in 32 bits and
        vectorise, which took a short danmaku's loop from 60 to 48 ms on an H100 (the fused RoPE kernel
        alone from 37 to ~10 us); the price is one compile per bucket at warm-up. Otherwise one
        shape-generic graph serves every bucket. Either way the inductor cache on disk makes a restart
        reuse the compiled kernels. The position convolutions switch to their Triton kernel here too
        (bot/engine/position_conv.py), on the prepared path only.
        """
        import os

        if cache_dir:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(cache_dir, "inductor"))
            os.environ.setdefault("TRITON_CACHE_DIR", os.path.join(cache_dir, "triton"))
        if per_shape:
            import torch._dynamo

            # Dynamo gives up on a function after this many recompilations (8 by default) and falls back
            # to eager; each resident graph shape needs its own. This process's only torch user is us.
            for name in ("recompile_limit", "cache_size_limit"):
                if hasattr(torch._dynamo.config, name):
                    setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), max_shapes))
        self._block_fn = torch.compile(block_forward, dynamic=not per_shape, fullgraph=True)
        if position_conv_fits(self.device, self.dtype, self._convs):
            from bot.engine.position_conv import PositionConv  # imports Triton

            self._position_conv = PositionConv(self._convs)


def position_conv_fits(device: torch.device, dtype: torch.dtype, convs: list[Any]) -> bool:
    """Whether the position convolutions' Triton kernel (bot/engine/position_conv.py) serves here: CUDA
    with tensor cores for the dtype (float16 from sm_70, bfloat16 from sm_80; float32 keeps cuDNN's exact
    products, which the tests against upstream use), groups as wide as tensor cores take (a power of two
    from 16), and Triton installed (a Jetson's PyTorch may ship without it)."""
    group = convs[0].in_channels // convs[0].groups
    if device.type != "cuda" or group < 16 or group & (group - 1):
        return False
    needed = {torch.float16: 7, torch.bfloat16: 8}.get(dtype)
    if needed is None or torch.cuda.get_device_capability(device)[0] < needed:
        return False
    import importlib.util

    return importlib.util.find_spec("triton") is not None


def block_forward(
    h: torch.Tensor,
    mod: torch.Tensor,
    w_qkv: torch.Tensor,
    b_qkv: torch.Tensor,
    w_o: torch.Tensor,
    b_o: torch.Tensor,
    w_1: torch.Tensor,
    b_1: torch.Tensor,
    w_2: torch.Tensor,
    b_2: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    key_mask: torch.Tensor | None,
    heads: int,
    pe_attn_head: int | None,
    qk_norm: tuple[Any, Any] | None = None,
) -> torch.Tensor:
    """One DiTBlock (AdaLN-modulated attention and feed-forward) with its modulation precomputed."""
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.unbind(0)
    rows, length, dim = h.shape
    norm = F.layer_norm(h, (dim,), eps=1e-6) * (1 + scale_msa) + shift_msa
    # (rows, N, heads, d) views of the fused projection: RoPE and the mask work in this layout, where
    # every kernel reads and writes contiguous rows; attention takes the transposed views as they are.
    q, k, v = F.linear(norm, w_qkv, b_qkv).view(rows, length, 3, heads, -1).unbind(2)
    if qk_norm is not None:
        q, k = qk_norm[0](q), qk_norm[1](k)
    q, k = _rotary(q, (cos, sin), pe_attn_head), _rotary(k, (cos, sin), pe_attn_head)
    a = F.linear(_attention(q, k, v, key_mask).reshape(rows, length, dim), w_o, b_o)
    h = h + gate_msa * a
    norm = F.layer_norm(h, (dim,), eps=1e-6) * (1 + scale_mlp) + shift_mlp
    hidden = F.gelu(F.linear(norm, w_1, b_1), approximate="tanh")
    out: torch.Tensor = h + gate_mlp * F.linear(hidden, w_2, b_2)
    return out


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
    """Attention over (rows, N, heads, d) activations, returned in the same layout (SDPA's output is
    laid out that way already, so the caller's reshape copies nothing)."""
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask).transpose(1, 2)


def _rotary(t: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], heads: int | None) -> torch.Tensor:
    """x-transformers' apply_rotary_pos_emb (interleaved pairs, fp32 tables) with cached cos/sin."""
    cos, sin = rope
    if heads is not None:  # only the first `heads` heads (dim 2 of (rows, N, heads, d)) are rotated
        return torch.cat([_rotary(t[:, :, :heads], rope, None), t[:, :, heads:]], dim=2)
    pairs = t.view(*t.shape[:-1], -1, 2)
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return (t * cos + rotated * sin).to(t.dtype)
