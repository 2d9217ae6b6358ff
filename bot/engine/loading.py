"""Building F5-TTS and Vocos from local files or the Hugging Face hub.

The model is f5-tts's own CFM(DiT) and the vocoder vocos's own Vocos, loaded with the published key
layout (`ema_model.` prefix in safetensors, `ema_model_state_dict` in .pt), exactly as upstream's
`load_checkpoint`/`load_vocoder` do, so a published checkpoint drops in. Every failure a user can cause
(missing file, no network, a checkpoint for another architecture) is one ModelError line.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from bot.config import Architecture, ModelConfig
from bot.config_fields import HF_PREFIX
from bot.engine.f5_imports import f5_model_classes
from bot.errors import ModelError

log = logging.getLogger(__name__)

N_MELS = 100
MEL_KWARGS = dict(
    n_fft=1024,
    hop_length=256,
    win_length=1024,
    n_mel_channels=N_MELS,
    target_sample_rate=24_000,
    mel_spec_type="vocos",
)


def fetch(spec: str, key: str, cache_dir: str | None) -> str:
    """A local path as is (it must exist), or an `hf://owner/repo/file` downloaded into the hub cache."""
    if not spec.startswith(HF_PREFIX):
        if not Path(spec).exists():
            raise ModelError(f"{key}: file not found: {spec}")
        return spec
    parts = spec[len(HF_PREFIX) :].split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise ModelError(f"{key}: expected hf://owner/repo/path/in/repo, got {spec}")
    return hub_download(f"{parts[0]}/{parts[1]}", parts[2], key, cache_dir)


def hub_download(repo_id: str, filename: str, key: str, cache_dir: str | None) -> str:
    """Download (or find in the local hub cache) one file; huggingface_hub draws a progress bar."""
    from huggingface_hub import hf_hub_download

    try:
        return str(hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=cache_dir))
    except Exception as err:  # network, auth, missing file: all one line for the user
        reason = " ".join(str(err).split())[:200]
        raise ModelError(f"{key}: cannot get {filename} from the hub repo {repo_id}: {reason}") from None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("model.device: cuda was asked for but no CUDA GPU is available")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is fp16 on a GPU (as upstream loads it) and fp32 on the CPU."""
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def load_vocab(path: str) -> dict[str, int]:
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise ModelError(f"model.vocab: cannot read {path}: {err}") from None
    if lines and lines[-1] == "":
        lines.pop()  # upstream drops each line's last character (the newline); a final newline ends the file
    vocab = {line: i for i, line in enumerate(lines)}
    if len(vocab) < 2:
        raise ModelError(f"model.vocab: {path} has {len(vocab)} entries; expected one token per line")
    return vocab


def build_cfm(arch: Architecture, vocab: dict[str, int]) -> Any:
    """The f5-tts CFM(DiT) module for `arch`, with random weights (fp32, CPU)."""
    CFM, DiT = f5_model_classes()
    transformer = DiT(
        dim=arch.dim,
        depth=arch.depth,
        heads=arch.heads,
        dim_head=arch.dim_head,
        ff_mult=arch.ff_mult,
        text_dim=arch.text_dim,
        text_mask_padding=arch.text_mask_padding,
        qk_norm=arch.qk_norm,
        conv_layers=arch.conv_layers,
        pe_attn_head=arch.pe_attn_head,
        attn_backend="torch",
        attn_mask_enabled=False,
        text_num_embeds=len(vocab),
        mel_dim=N_MELS,
    )
    return CFM(
        transformer=transformer,
        mel_spec_kwargs=dict(MEL_KWARGS),
        odeint_kwargs=dict(method="euler"),
        vocab_char_map=vocab,
    )


@contextlib.contextmanager
def _no_random_init() -> Iterator[None]:
    """Skip torch.nn.init while building a model whose every weight the checkpoint then replaces: drawing
    337 M random numbers on the CPU was the largest part of the start-up (seconds). What no checkpoint
    holds (RoPE tables, the mel filterbank) is computed, not drawn, so it is unaffected; a weight the
    checkpoint lacks is an error in `load_model`, so no uninitialised memory is ever used."""
    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    try:
        for n in names:
            setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, fn in saved.items():
            setattr(torch.nn.init, n, fn)


def checkpoint_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint, with upstream's key handling (EMA weights preferred)."""
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            raw: dict[str, Any] = {"ema_model_state_dict": load_file(path, device="cpu")}
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelError(f"model.checkpoint: cannot load {path}: {' '.join(str(err).split())[:200]}") from None
    if not isinstance(raw, dict):
        raise ModelError(f"model.checkpoint: {path} does not hold a state dict")
    state = raw.get("ema_model_state_dict") or raw.get("model_state_dict") or raw
    out = {
        k.removeprefix("ema_model."): v
        for k, v in state.items()
        if k not in ("initted", "step", "ema_model.initted", "ema_model.step") and isinstance(v, torch.Tensor)
    }
    for key in ("mel_spec.mel_stft.mel_scale.fb", "mel_spec.mel_stft.spectrogram.window"):
        out.pop(key, None)  # older checkpoints carried the mel filterbank (upstream patch 305e3ea)
    return out


def load_model(cfg: ModelConfig, device: torch.device, dtype: torch.dtype) -> tuple[Any, dict[str, int]]:
    """Build CFM(DiT) for the configured architecture and load the checkpoint onto `device` once."""
    vocab = load_vocab(fetch(cfg.vocab, "model.vocab", cfg.cache_dir))
    state = checkpoint_state_dict(fetch(cfg.checkpoint, "model.checkpoint", cfg.cache_dir))
    with _no_random_init():
        model = build_cfm(cfg.architecture, vocab)
    try:
        result = model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as err:  # torch lists every mismatched shape, one line each: say it in one
        wrong = [line.strip() for line in str(err).splitlines() if "size mismatch" in line]
        first = wrong[0] if wrong else " ".join(str(err).split())
        raise ModelError(
            f"model.checkpoint: does not fit model.architecture: {len(wrong)} weights have other shapes "
            f"({first[:200]}); is model.vocab the checkpoint's own?"
        ) from None
    problems = []
    if result.missing_keys:
        problems.append(f"{len(result.missing_keys)} missing weights (e.g. {result.missing_keys[0]})")
    if result.unexpected_keys:
        problems.append(f"{len(result.unexpected_keys)} unexpected weights (e.g. {result.unexpected_keys[0]})")
    if problems:
        raise ModelError(f"model.checkpoint: does not fit model.architecture: {'; '.join(problems)}")
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False), vocab


def load_vocoder(spec: str, cache_dir: str | None, device: torch.device) -> Any:
    """Vocos from a local folder (`config.yaml` + `pytorch_model.bin`) or `hf://owner/repo`, as upstream."""
    from vocos import Vocos

    if spec.startswith(HF_PREFIX):
        repo = spec[len(HF_PREFIX) :].strip("/")
        config_path = hub_download(repo, "config.yaml", "model.vocoder", cache_dir)
        weights_path = hub_download(repo, "pytorch_model.bin", "model.vocoder", cache_dir)
    else:
        config_path, weights_path = str(Path(spec) / "config.yaml"), str(Path(spec) / "pytorch_model.bin")
        for p in (config_path, weights_path):
            if not Path(p).is_file():
                raise ModelError(f"model.vocoder: file not found: {p}")
    try:
        with _no_random_init():  # every weight is in the file; load_state_dict is strict
            vocoder = Vocos.from_hparams(config_path)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        vocoder.load_state_dict(state)
    except Exception as err:
        raise ModelError(f"model.vocoder: cannot load {spec}: {' '.join(str(err).split())[:200]}") from None
    return vocoder.eval().requires_grad_(False).to(device)


def import_compiler() -> None:
    """Import torch.compile's machinery (dynamo, inductor, Triton), meant for a thread of its own: seconds
    of Python imports that the first compiled shape would otherwise spend on the GPU thread. On an H200
    the first background warm-up step, these imports included, held messages arriving during it up to
    10.5 s (docs/benchmarks.md; how much of that was imports was not measured apart). A failure here is
    left for the compile itself to report."""
    with contextlib.suppress(Exception):
        import torch._dynamo
        import torch._inductor.compile_fx  # noqa: F401
        import triton  # noqa: F401
