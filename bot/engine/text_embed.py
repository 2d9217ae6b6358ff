"""F5-TTS's text embedding for a whole batch in one pass, each row equal to upstream's call at that
row's own length.

Upstream's `TextEmbedding` at one utterance's exact length is what the model was trained with; its
ConvNeXt-V2 blocks mix positions twice: the depthwise convolution (kernel 7) and GRN, whose L2 norm runs
over the whole sequence. Padding a row to the batch's length therefore changes it unless both are
masked: positions past the row's length are zeros before every convolution (upstream masks the filler
tokens, which cover them) and are zeroed again before each GRN so its norm counts the row's own
positions only. Prepared per utterance, it was 2 x B eager passes of small kernels (~6 ms per item on
an H100, docs/benchmarks.md: "Where the time goes"); batched, one pass.
"""

from __future__ import annotations

from typing import Any

import torch


def can_batch(text_embed: Any) -> bool:
    """The configurations this reproduces: filler masking and ConvNeXt blocks, no average upsampling."""
    return (
        bool(getattr(text_embed, "mask_padding", False))
        and bool(getattr(text_embed, "extra_modeling", False))
        and not getattr(text_embed, "average_upsampling", False)
    )


@torch.inference_mode()
def embed_text_rows(
    text_embed: Any, ids: list[torch.Tensor], lens: list[int], drop_text: list[bool], length: int
) -> torch.Tensor:
    """Rows of text embeddings (len(ids), length, text_dim): row r is upstream's
    `text_embed(ids[r], seq_len=lens[r], drop_text=drop_text[r])` followed by zeros."""
    device = ids[0].device
    rows = len(ids)
    text = torch.zeros(rows, length, dtype=torch.long, device=device)
    for r, (row_ids, n) in enumerate(zip(ids, lens, strict=True)):
        t = row_ids[0, :n] + 1  # 0 is the filler token
        text[r, : t.shape[0]] = t
    filler = (text == 0).unsqueeze(-1)  # also every position past the row's length
    valid = (torch.arange(length, device=device)[None, :] < torch.tensor(lens, device=device)[:, None]).unsqueeze(-1)
    dropped = torch.tensor(drop_text, device=device)[:, None]
    x = text_embed.text_embed(text.masked_fill(dropped, 0))
    x = (x + text_embed.freqs_cis[:length]).masked_fill(filler, 0.0)
    for block in text_embed.text_blocks:
        x = _convnext_block(block, x, valid).masked_fill(filler, 0.0)
    out: torch.Tensor = x
    return out


def _convnext_block(block: Any, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Upstream's ConvNeXtV2Block.forward with the GRN input masked to each row's own length."""
    residual = x
    y = block.dwconv(x.transpose(1, 2)).transpose(1, 2)
    y = block.act(block.pwconv1(block.norm(y))) * valid
    y = block.pwconv2(block.grn(y))
    out: torch.Tensor = residual + y
    return out
