"""Write a small F5-TTS checkpoint with random weights, in the published formats.

Lets anyone smoke-test the whole bot (and CI run it end to end on a CPU) without the 1.3 GB download:
`model.safetensors` with the `ema_model.` key prefix, `vocab.txt`, and `vocos/` with `config.yaml` and
`pytorch_model.bin`, loaded by exactly the code that loads the real files. Its speech is noise.

DiT zero-initialises its AdaLN modulation and output projections (a trained model moves them), so a
freshly built DiT outputs exactly zero; those layers are re-randomised here or the audio would be silence.
The text encoder's GRN layers, identities at initialisation, are randomised too so tests exercise them.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

import torch

from bot.config import ARCHITECTURES
from bot.engine.loading import build_cfm, load_vocab

TINY_VOCOS_CONFIG = """\
feature_extractor:
  class_path: vocos.feature_extractors.MelSpectrogramFeatures
  init_args:
    sample_rate: 24000
    n_fft: 1024
    hop_length: 256
    n_mels: 100
    padding: center
backbone:
  class_path: vocos.models.VocosBackbone
  init_args:
    input_channels: 100
    dim: 64
    intermediate_dim: 128
    num_layers: 2
head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: 64
    n_fft: 1024
    hop_length: 256
    padding: same
"""


FULL_VOCOS_SIZES = {
    "dim: 64": "dim: 512",
    "intermediate_dim: 128": "intermediate_dim: 1536",
    "num_layers: 2": "num_layers: 8",
}
"""charactr/vocos-mel-24khz's sizes: for benchmarks with the real architectures."""


def write_tiny_model(out_dir: str | Path, seed: int = 0, architecture: str = "tiny", full_vocos: bool = False) -> Path:
    """Create `out_dir` with a random-weight checkpoint of `architecture` (and a Vocos of the real size
    when `full_vocos`); returns the folder."""
    from safetensors.torch import save_file
    from vocos import Vocos

    out = Path(out_dir)
    (out / "vocos").mkdir(parents=True, exist_ok=True)
    vocab_path = out / "vocab.txt"
    shutil.copyfile(str(files("f5_tts").joinpath("infer/examples/vocab.txt")), vocab_path)

    torch.manual_seed(seed)
    model = build_cfm(ARCHITECTURES[architecture], load_vocab(str(vocab_path)))
    tr = model.transformer
    with torch.no_grad():
        for block in tr.transformer_blocks:
            torch.nn.init.normal_(block.attn_norm.linear.weight, std=0.02)
            torch.nn.init.normal_(block.attn_norm.linear.bias, std=0.02)
        for convnext in getattr(tr.text_embed, "text_blocks", []):  # GRN starts as the identity too
            torch.nn.init.normal_(convnext.grn.gamma, std=0.1)
            torch.nn.init.normal_(convnext.grn.beta, std=0.1)
        for layer in (tr.norm_out.linear, tr.proj_out):
            torch.nn.init.normal_(layer.weight, std=0.05)
            torch.nn.init.normal_(layer.bias, std=0.05)
    state = {f"ema_model.{k}": v.contiguous() for k, v in model.state_dict().items() if not k.startswith("mel_spec.")}
    save_file(state, str(out / "model.safetensors"))

    vocos_config = TINY_VOCOS_CONFIG
    if full_vocos:
        for small, big in FULL_VOCOS_SIZES.items():
            vocos_config = vocos_config.replace(small, big)
    (out / "vocos" / "config.yaml").write_text(vocos_config, encoding="utf-8")
    vocoder = Vocos.from_hparams(str(out / "vocos" / "config.yaml"))
    torch.save(vocoder.state_dict(), out / "vocos" / "pytorch_model.bin")
    return out
