"""The sampling backend: model, vocoder and the loop that runs them (plain / fast / CUDA graphs).

Everything that depends on which loop runs lives here: the sequence length a batch actually runs at
(length buckets only pay where graphs replay fixed shapes), the largest batch the loop takes (the plain
loop samples one piece at a time), and whether a shape is replayed or still runs eagerly while warm-up
prepares it. The rest of the engine hands it planned pieces and gets their audio back.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any, Protocol

import torch

from bot.config import EngineConfig, ModelConfig
from bot.engine.fast_dit import FastDiT
from bot.engine.graphs import GraphedSampler, GraphKey
from bot.engine.loading import load_model, load_vocoder, resolve_device, resolve_dtype
from bot.engine.reference import TARGET_RMS
from bot.engine.sampler import EulerCfgSampler
from bot.events import Pcm

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class SampledPiece(Protocol):
    """What the backend needs of a planned piece (bot/engine/planning.py): its voice's reference and
    its tokens, and the total frames (reference + generated) to sample."""

    @property
    def ref_mel(self) -> torch.Tensor: ...

    @property
    def ref_frames(self) -> int: ...

    @property
    def ref_rms(self) -> float: ...

    @property
    def ids(self) -> torch.Tensor: ...

    @property
    def duration(self) -> int: ...


class Backend:
    """Loads the model and vocoder once and runs the sampling loop chosen by the config."""

    def __init__(self, model_cfg: ModelConfig, engine: EngineConfig) -> None:
        self.cfg = model_cfg
        self.engine = engine
        self.device = resolve_device(model_cfg.device)
        self.dtype = resolve_dtype(model_cfg.dtype, self.device)
        t0 = time.perf_counter()
        self.model: Any
        self.model, self.vocab = load_model(model_cfg, self.device, self.dtype)
        self.vocoder = load_vocoder(model_cfg.vocoder, model_cfg.cache_dir, self.device)
        self.vocoder_dtype = DTYPES[engine.vocoder_dtype] if self.device.type == "cuda" else torch.float32
        self.vocoder.to(self.vocoder_dtype)
        self.set_steps(model_cfg.nfe_step)
        log.info(
            "model loaded on %s (%s, %s) in %.1f s",
            self.device,
            str(self.dtype).split(".")[-1],
            "CUDA graphs" if self.graphs is not None else "fast loop" if self.fast is not None else "plain loop",
            time.perf_counter() - t0,
        )
        self.prepared: set[GraphKey] | None = None
        """While shapes are being prepared step by step, those ready to replay (compiled, captured); the
        others replay their plain loop's graph if `captured_plain` holds them, else run eagerly. None:
        every shape takes the prepared path (compiled or captured on first use)."""

    def set_steps(self, nfe: int) -> None:
        """(Re)build the sampling loop for `nfe` steps; captured graphs of the old schedule are dropped."""
        cfg, sway = self.cfg.cfg_strength, self.cfg.sway_sampling_coef
        self.sampler = EulerCfgSampler(self.model.transformer, nfe, cfg, sway)
        self.fast = FastDiT(self.model.transformer, nfe, cfg, sway) if self.engine.fast else None
        self._compile_pending = self.fast is not None and self._want_compile()
        """torch.compile is set up on the first use of the prepared path, not here: importing the compiler
        takes seconds that the eager path, which speaks first, does not need."""
        self.graphs: GraphedSampler | None = None
        if self.fast is not None and self.engine.cuda_graphs and self.device.type == "cuda":
            self.graphs = GraphedSampler(self.fast, self.engine.max_graphs)
        self.captured_plain: set[GraphKey] = set()
        """Shapes whose plain (uncompiled) loop warm-up captures as a graph before compiling anything:
        a capture takes two eager loops, a compile seconds, and the replay is already several times
        faster than the eager loop (docs/benchmarks.md)."""
        # Buckets only pay where graphs replay fixed shapes; elsewhere exact lengths waste nothing.
        self.bucket = self.engine.bucket_frames if self.graphs is not None else 1
        self.max_batch = self.engine.max_batch if self.fast is not None else 1
        """The one place the batch size is decided: the engine's batcher and the speaker's batch taking
        both read it through the façade."""

    def end_warm_up(self) -> None:
        """Every shape takes the prepared path from now on (compiled and captured on first use, as
        without warm-up); the plain loops' graphs are dropped."""
        self.prepared = None
        self.captured_plain.clear()
        if self.graphs is not None:
            self.graphs.drop_plain()

    @property
    def compile_pending(self) -> bool:
        """torch.compile is still to be set up, on the first use of the prepared path."""
        return self._compile_pending

    def _want_compile(self) -> bool:
        if self.engine.compile is not None:
            return self.engine.compile
        if self.device.type != "cuda":
            return False
        return importlib.util.find_spec("triton") is not None

    def bucketed(self, frames: int) -> int:
        """`frames` rounded up to the bucket size: the sequence length a loop actually runs at."""
        return -(-frames // self.bucket) * self.bucket

    def pass_shape(self, durations: Sequence[int]) -> GraphKey:
        """The shape a pass of pieces of these durations (reference + generated frames) runs at with CUDA
        graphs: the batch rounded up to a power of two, the longest piece rounded up to the bucket, and
        whether any piece is padded (masked). `sample` switches shapes in by it, and warm-up lists the
        shapes it prepares by it (bot/engine/shapes.py)."""
        length = self.bucketed(max(durations))
        return batch_bucket(len(durations)), length, any(d < length for d in durations)

    def reference_mel(self, pcm: Pcm, rms: float) -> torch.Tensor:
        """A voice's clip as the model reads it: (1, frames, 100) on the device, loudness raised to
        TARGET_RMS as upstream does."""
        wave = torch.tensor(pcm, device=self.device)
        if rms < TARGET_RMS:
            wave = wave * TARGET_RMS / rms
        mel: torch.Tensor = self.model.mel_spec(wave.unsqueeze(0)).permute(0, 2, 1).to(self.dtype)
        return mel

    def tokenize(self, text: str) -> torch.Tensor:
        from f5_tts.model.utils import convert_char_to_pinyin

        tokens = convert_char_to_pinyin([text])[0]
        return torch.tensor([[self.vocab.get(c, 0) for c in tokens]], dtype=torch.long, device=self.device)

    def initial_noise(self, frames: int, seed: int | None = None) -> torch.Tensor:
        """Upstream's noise for a given seed: a fresh generator seeded like `torch.manual_seed(seed)`."""
        seed = self.cfg.seed if seed is None else seed
        gen = torch.Generator(device=self.device).manual_seed(secrets.randbits(63) if seed is None else seed)
        return torch.randn(frames, 100, generator=gen, device=self.device, dtype=self.dtype).unsqueeze(0)

    @torch.inference_mode()
    def sample(self, group: Sequence[SampledPiece], seed: int | None = None) -> list[Pcm]:
        """Sample and vocode `group` in one pass (at most `max_batch` pieces); each piece's generated audio."""
        noises = [self.initial_noise(p.duration, seed) for p in group]
        if self.fast is None:
            mels = [self.sampler.sample(p.ref_mel, p.ids, p.duration, n) for p, n in zip(group, noises, strict=True)]
        else:
            key = self.pass_shape([p.duration for p in group])
            items = [(p.ref_mel, p.ids, p.duration, noise) for p, noise in zip(group, noises, strict=True)]
            if self.graphs is not None:
                # Batch sizes round up to a power of two (repeating the first item) so a few graphs serve all.
                items += [items[0]] * (key[0] - len(items))
            batch = self.fast.prepare(items, key[1])
            if self.prepared is not None and key not in self.prepared:
                if self.graphs is not None and key in self.captured_plain:
                    out = self.graphs.run(batch, eager=True)
                else:
                    out = self.fast.sample(batch, eager=True)
            else:
                if self._compile_pending:
                    self._compile_pending = False
                    e = self.engine
                    self.fast.compile(e.resolved_cache_dir(), e.compile_per_bucket, 2 * e.max_graphs + 16)
                out = self.graphs.run(batch) if self.graphs is not None else self.fast.sample(batch)
            mels = [
                torch.cat([p.ref_mel, out[i : i + 1, p.ref_mel.shape[1] : p.duration]], dim=1)
                for i, p in enumerate(group)
            ]
        return [self.vocode(mel[:, p.ref_frames :], p.ref_rms) for p, mel in zip(group, mels, strict=True)]

    def vocode(self, mel: torch.Tensor, ref_rms: float) -> Pcm:
        wave = self.vocoder.decode(mel.to(self.vocoder_dtype).permute(0, 2, 1)).float()
        if ref_rms < TARGET_RMS:
            wave = wave * ref_rms / TARGET_RMS
        out: Pcm = wave.squeeze(0).cpu().numpy()
        return out

    def release_memory(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def batch_bucket(n: int) -> int:
    """The next power of two: the batch sizes that get their own CUDA graphs."""
    return 1 << (n - 1).bit_length()
