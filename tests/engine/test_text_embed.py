"""The batched text embedding against upstream's `TextEmbedding`, row by row at each row's own length."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bot.engine.synthesizer import F5Synthesizer
from bot.engine.text_embed import can_batch, embed_text_rows
from bot.testing.engine import backend
from tests.conftest import make_tiny_synthesizer

pytestmark = pytest.mark.torch  # imports the engine (torch): the pure run leaves the module out


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> F5Synthesizer:
    return make_tiny_synthesizer(tmp_path_factory.mktemp("cfg"), tiny_model)


def test_each_row_equals_upstream_at_its_own_length(synth: F5Synthesizer) -> None:
    te = backend(synth).model.transformer.text_embed
    assert can_batch(te)  # the v1 architecture: filler masking, ConvNeXt blocks
    texts = ["你好", "主播今天玩什么游戏呀", "hi"]
    ids = [backend(synth).tokenize(t) for t in texts]
    lens = [40, 57, 33]  # all longer than their tokens, as in the engine; padded to 64 below
    drop = [False, True, False]
    rows = embed_text_rows(te, ids, lens, drop, 64)
    assert rows.shape[:2] == (3, 64)
    for r, (row_ids, n) in enumerate(zip(ids, lens, strict=True)):
        with torch.inference_mode():
            upstream = te(row_ids, seq_len=n, drop_text=drop[r])[0]
        assert torch.allclose(rows[r, :n], upstream, rtol=1e-5, atol=1e-6), r
        assert not rows[r, n:].any()  # nothing past the row's own length


def test_padding_without_the_grn_mask_would_differ(synth: F5Synthesizer) -> None:
    """The reason for the masked GRN: upstream's own call at a longer length is a different embedding."""
    te = backend(synth).model.transformer.text_embed
    ids = backend(synth).tokenize("主播好")
    with torch.inference_mode():
        exact = te(ids, seq_len=30)[0]
        longer = te(ids, seq_len=64)[0, :30]
    assert not torch.allclose(exact, longer, rtol=1e-5, atol=1e-6)
    assert torch.allclose(embed_text_rows(te, [ids], [30], [False], 64)[0, :30], exact, rtol=1e-5, atol=1e-6)
