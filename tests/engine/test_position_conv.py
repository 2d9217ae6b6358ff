"""The position convolutions' Triton kernel computes what cuDNN's grouped convolution + Mish + mask do.

Run in Triton's interpreter on the CPU (a subprocess: the interpreter is chosen when Triton is first
imported), at a small width with the real kernel size, a masked tail and a length that crosses a tile.
The GPU compares the kernel at full size in bench/batch_kernels.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch
pytest.importorskip("triton", reason="the kernel needs Triton (JetPack's torch and CPU-only wheels may lack it)")

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import torch, torch.nn.functional as F
from bot.engine.position_conv import BLOCK_N, PositionConv
torch.manual_seed(0)
convs = [torch.nn.Conv1d(256, 256, 31, padding=15, groups=16) for _ in range(2)]
rows, n = 2, BLOCK_N + 9
h = torch.randn(rows, n, 256)
keep = torch.ones(rows, n, 1, dtype=torch.bool)
keep[1, 41:] = False
y = h.masked_fill(~keep, 0.0)
for c in convs:
    y = F.conv1d(y.transpose(1, 2), c.weight, c.bias, padding=15, groups=16).transpose(1, 2)
    y = F.mish(y).masked_fill(~keep, 0.0)
with torch.inference_mode():
    out = PositionConv([c.half() for c in convs])(h.half(), keep).float()
print(float((out - y).abs().max()), float(y.abs().max()), float(out[1, 41:].abs().max()))
"""


def test_the_kernel_matches_grouped_conv_mish_and_mask() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    err, scale, masked = map(float, proc.stdout.split())
    assert scale > 0.1
    assert err < 2e-3 * scale  # float16 inputs and weights against a float32 reference
    assert masked == 0.0
