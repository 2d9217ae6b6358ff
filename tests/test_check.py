"""`check` in process: the device the model resolves to, and the warning for a full-size model on a CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from bot.check import check_config
from bot.config import ARCHITECTURES, Config, load_config

pytestmark = pytest.mark.torch  # imports the engine (torch): the pure run leaves the module out

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="asserts what a machine without a GPU is told")



def with_model(cfg: Config, **changes: object) -> Config:
    return cfg.model_copy(update={"model": cfg.model.model_copy(update=changes)})


@needs_no_gpu
@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_a_full_size_model_on_the_cpu_is_warned_about_and_a_tiny_one_is_not(
    tiny_config: Callable[..., Path], device: str
) -> None:
    cfg = with_model(load_config(tiny_config()), device=device)
    assert not [n for n in check_config(cfg, "c")[1] if "CPU" in n]
    problems, notes = check_config(with_model(cfg, architecture=ARCHITECTURES["F5TTS_v1_Base"]), "c")
    warning = [n for n in notes if n.startswith("c: model.device: WARNING: the full-size model runs on the CPU")]
    assert len(warning) == 1 and "s per short message on 2 cores" in warning[0], notes
    assert not [p for p in problems if "device" in p]


@needs_no_gpu
def test_cuda_asked_for_without_a_gpu_is_a_problem(tiny_config: Callable[..., Path]) -> None:
    problems, _ = check_config(with_model(load_config(tiny_config()), device="cuda"), "c")
    assert "c: model.device: cuda was asked for but no CUDA GPU is available" in problems
