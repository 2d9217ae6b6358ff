"""`ishowtts-bot check`: every problem with a config, one line each, without loading the model.

Checks what a first `run` would trip on: the schema, every voice's clip and transcript, the model,
vocabulary and vocoder files (a local safetensors checkpoint is matched key by key and shape by shape
against the architecture, reading only its header), what the source's and the output's own checks find (the
replay file, a live source's login, the named sound card: each type's package says) and the state folder
(writable, its state file readable). Filter rules (a bad regex) are checked by the schema itself.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import ARCHITECTURES, Architecture, Config
from bot.config_fields import HF_PREFIX
from bot.engine.reference import load_reference
from bot.errors import UserError
from bot.registry import OUTPUTS, SOURCES
from bot.state_store import StateStore
from bot.text import clean_text, is_speakable


def check_config(cfg: Config, name: str) -> tuple[list[str], list[str]]:
    """Returns (problems, notes); each is a list of one-line messages prefixed with `name`."""
    problems: list[str] = []
    notes: list[str] = []
    for i, voice in enumerate(cfg.voices):
        try:
            load_reference(voice.ref_audio, f"voices[{i}].ref_audio")
        except UserError as err:
            problems.append(f"{name}: {err}")
        if not is_speakable(clean_text(voice.ref_text, 10_000)):
            problems.append(f"{name}: voices[{i}].ref_text: the transcript has nothing speakable in it")
    problems += [f"{name}: {p}" for p in _check_model(cfg, notes)]
    problems += [f"{name}: {p}" for p in _check_device(cfg, notes)]
    for findings in (SOURCES[cfg.source.type].check(cfg.source), OUTPUTS[cfg.output.type].check(cfg.output)):
        problems += [f"{name}: {p}" for p in findings.problems]
        notes += findings.notes
    if state_problem := StateStore(cfg.resolved_state_dir()).problem():
        problems.append(f"{name}: {state_problem}")
    return problems, [f"{name}: {n}" for n in notes]


def _check_model(cfg: Config, notes: list[str]) -> list[str]:
    m = cfg.model
    problems: list[str] = []
    vocab_size = None
    for key, spec in (("model.checkpoint", m.checkpoint), ("model.vocab", m.vocab)):
        if spec.startswith(HF_PREFIX):
            notes.append(f"{key}: {spec} will be downloaded from the hub on first run unless already cached")
        elif not Path(spec).is_file():
            problems.append(f"{key}: file not found: {spec}")
    if not m.checkpoint.startswith(HF_PREFIX) and Path(m.checkpoint).is_file():
        problems += _checkpoint_format(m.checkpoint)
    if not m.vocab.startswith(HF_PREFIX) and Path(m.vocab).is_file():
        try:
            from bot.engine.loading import load_vocab

            vocab_size = len(load_vocab(m.vocab))
        except UserError as err:
            problems.append(str(err))
    if vocab_size and m.checkpoint.endswith(".safetensors") and Path(m.checkpoint).is_file() and not problems:
        problems += _checkpoint_fits(cfg, vocab_size)
    if m.vocoder.startswith(HF_PREFIX):
        notes.append(f"model.vocoder: {m.vocoder} will be downloaded from the hub on first run unless already cached")
    else:
        for f in ("config.yaml", "pytorch_model.bin"):
            if not (Path(m.vocoder) / f).is_file():
                problems.append(f"model.vocoder: file not found: {Path(m.vocoder) / f}")
    return problems


def _checkpoint_format(path: str) -> list[str]:
    """Whether the file is a checkpoint at all, from its first bytes: a safetensors header (a little-endian
    length, then JSON) or what torch.save writes (a zip archive, or a pickle for the legacy format)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as err:
        return [f"model.checkpoint: cannot read {path}: {err.strerror or err}"]
    if path.endswith(".safetensors"):
        size = int.from_bytes(head[:8], "little") if len(head) >= 9 else 0
        ok = 2 <= size <= 100_000_000 and head[8:9] == b"{"
    else:
        ok = head.startswith((b"PK\x03\x04", b"\x80"))
    return [] if ok else [f"model.checkpoint: {path} is not a checkpoint (.safetensors or a torch.save .pt file)"]


CPU_SECONDS_PER_MESSAGE = 75
"""A short danmaku (3 s of speech) with F5TTS_v1_Base on 2 CPU cores at 16 steps (docs/benchmarks.md)."""


def _is_full_size(arch: Architecture) -> bool:
    """At least half of F5TTS_v1_Base's width x depth: minutes per message on a CPU."""
    base = ARCHITECTURES["F5TTS_v1_Base"]
    return arch.dim * arch.depth * 2 >= base.dim * base.depth


def _check_device(cfg: Config, notes: list[str]) -> list[str]:
    """The device the model resolves to, and a warning when that is a CPU for a full-size model: it works,
    but a CPU is for trying the pipeline, not for reading a stream's chat."""
    from bot.engine.loading import resolve_device

    try:
        device = resolve_device(cfg.model.device)
    except UserError as err:
        return [str(err)]
    if device.type == "cpu" and _is_full_size(cfg.model.architecture):
        why = "asked for" if cfg.model.device == "cpu" else "no CUDA GPU found"
        notes.append(
            f"model.device: WARNING: the full-size model runs on the CPU ({why}): expect about "
            f"{CPU_SECONDS_PER_MESSAGE} s per short message on 2 cores and minutes to start; fine for trying "
            "the pipeline, far too slow for a live chat (README: 'Without a GPU')"
        )
    return []


def _checkpoint_fits(cfg: Config, vocab_size: int) -> list[str]:
    """Compare the checkpoint's tensor names and shapes with the architecture, on the meta device."""
    import torch
    from safetensors import safe_open

    from bot.engine.loading import build_cfm

    try:
        with safe_open(cfg.model.checkpoint, framework="pt") as f:
            shapes = {k.removeprefix("ema_model."): tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except Exception as err:
        return [f"model.checkpoint: not a readable safetensors file: {cfg.model.checkpoint} ({err})"]
    with torch.device("meta"):
        model = build_cfm(cfg.model.architecture, {str(i): i for i in range(vocab_size)})
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.startswith("mel_spec.")}
    for k in ("initted", "step"):
        shapes.pop(k, None)
    missing = sorted(set(expected) - set(shapes))
    wrong = sorted(k for k in expected.keys() & shapes.keys() if expected[k] != shapes[k])
    out = []
    if missing:
        out.append(f"model.checkpoint: {len(missing)} weights of model.architecture are missing (e.g. {missing[0]})")
    if wrong:
        k = wrong[0]
        out.append(
            f"model.checkpoint: {len(wrong)} weights have other shapes than model.architecture "
            f"(e.g. {k}: {shapes[k]} vs {expected[k]}); is model.vocab the checkpoint's own?"
        )
    return out
