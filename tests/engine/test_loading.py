from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bot.config import ModelConfig
from bot.engine.loading import checkpoint_state_dict, load_model, load_vocoder
from bot.errors import ModelError

pytestmark = pytest.mark.torch  # imports the engine (torch): the pure run leaves the module out


def model_cfg(tiny: Path, **over: object) -> ModelConfig:
    base = dict(
        checkpoint=str(tiny / "model.safetensors"),
        vocab=str(tiny / "vocab.txt"),
        vocoder=str(tiny / "vocos"),
        architecture="tiny",
        device="cpu",
    )
    return ModelConfig.model_validate({**base, **over})


def test_published_key_layout_loads(tiny_model: Path) -> None:
    state = checkpoint_state_dict(str(tiny_model / "model.safetensors"))
    assert all(not k.startswith("ema_model.") for k in state)
    model, vocab = load_model(model_cfg(tiny_model), torch.device("cpu"), torch.float32)
    assert len(vocab) == 2545
    torch.testing.assert_close(model.transformer.proj_out.weight, state["transformer.proj_out.weight"])


def test_loading_draws_no_random_weights_and_leaves_torch_init_as_it_was(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[str] = []
    for name in ("kaiming_uniform_", "uniform_", "normal_", "constant_"):
        real = getattr(torch.nn.init, name)
        monkeypatch.setattr(torch.nn.init, name, lambda *a, _n=name, _f=real, **k: (drawn.append(_n), _f(*a, **k))[1])
    patched = torch.nn.init.normal_
    model, _ = load_model(model_cfg(tiny_model), torch.device("cpu"), torch.float32)
    vocoder = load_vocoder(str(tiny_model / "vocos"), None, torch.device("cpu"))
    assert drawn == []  # every weight comes from the checkpoint: drawing them first was seconds of start-up
    vocos_state = torch.load(tiny_model / "vocos" / "pytorch_model.bin", weights_only=True)
    for key, value in vocoder.state_dict().items():
        torch.testing.assert_close(value, vocos_state[key])
    assert torch.nn.init.normal_ is patched
    state = checkpoint_state_dict(str(tiny_model / "model.safetensors"))
    for key, value in model.state_dict().items():
        if key in state:
            torch.testing.assert_close(value, state[key])
    assert torch.isfinite(model.transformer.rotary_embed.inv_freq).all()  # computed, not loaded


def test_pt_checkpoint_with_ema_state_dict(tiny_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    raw = load_file(str(tiny_model / "model.safetensors"))
    torch.save(
        {"ema_model_state_dict": {**raw, "initted": torch.tensor(True), "step": torch.tensor(1)}}, tmp_path / "model.pt"
    )
    load_model(model_cfg(tiny_model, checkpoint=str(tmp_path / "model.pt")), torch.device("cpu"), torch.float32)


def test_checkpoint_for_another_architecture(tiny_model: Path) -> None:
    arch = {"dim": 64, "depth": 3, "heads": 2, "dim_head": 32, "ff_mult": 2, "text_dim": 32, "conv_layers": 1}
    with pytest.raises(ModelError, match=r"^model\.checkpoint: does not fit model\.architecture: \d+ missing weights"):
        load_model(model_cfg(tiny_model, architecture=arch), torch.device("cpu"), torch.float32)


def test_missing_and_corrupt_files(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"^model\.checkpoint: file not found: .*nope\.safetensors$"):
        load_model(
            model_cfg(tiny_model, checkpoint=str(tmp_path / "nope.safetensors")), torch.device("cpu"), torch.float32
        )
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match=r"^model\.checkpoint: cannot load .*bad\.safetensors"):
        load_model(
            model_cfg(tiny_model, checkpoint=str(tmp_path / "bad.safetensors")), torch.device("cpu"), torch.float32
        )
    with pytest.raises(ModelError, match=r"^model\.vocoder: file not found: .*config\.yaml$"):
        load_vocoder(str(tmp_path), None, torch.device("cpu"))


def test_unreachable_hub_is_one_line(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    cfg = model_cfg(
        tiny_model, checkpoint="hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors", cache_dir=str(tmp_path)
    )
    with pytest.raises(ModelError) as err:
        load_model(cfg, torch.device("cpu"), torch.float32)
    msg = str(err.value)
    assert msg.startswith(
        "model.checkpoint: cannot get F5TTS_v1_Base/model_1250000.safetensors from the hub repo SWivid/F5-TTS: "
    )
    assert "\n" not in msg
    with pytest.raises(ModelError, match=r"^model\.vocoder: cannot get config\.yaml from the hub repo "):
        load_vocoder("hf://charactr/vocos-mel-24khz", str(tmp_path), torch.device("cpu"))


def test_loading_the_model_classes_leaves_out_what_speaking_does_not_use(tmp_path: Path) -> None:
    """einx (and with it torch's compiler and sympy) and torchdiffeq (and scipy) cost seconds of start-up
    and are loaded only when something uses them: upstream's ODE solver and einx still work then."""
    code = """
import sys
import torch
from bot.engine.loading import build_cfm
from bot.config import ARCHITECTURES
model = build_cfm(ARCHITECTURES["tiny"], {"a": 0, "b": 1})
heavy = [m for m in ("einx._src", "sympy", "torch._dynamo", "torchdiffeq", "scipy") if m in sys.modules]
assert not heavy, heavy
from x_transformers.x_transformers import einx
assert einx.subtract("i, j -> i j", torch.arange(3), torch.arange(2)).shape == (3, 2)
from f5_tts.model import cfm
y = cfm.odeint(lambda t, x: -x, torch.ones(1), torch.tensor([0.0, 1.0]), method="euler")
assert abs(float(y[-1]) - 0.0) < 1e-6, y
import torchdiffeq
assert torchdiffeq.odeint is not cfm.odeint and hasattr(torchdiffeq, "odeint_adjoint")
print("ok")
"""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
