"""F5Synthesizer: text + voice id -> 24 kHz float32 PCM, on the device chosen in the config.

Construction loads the model and vocoder and prepares every configured voice once (reference mel on
the device, transcript kept for tokenising); `synthesize_batch` then only tokenises, samples and
vocodes. Several waiting messages (and the sentences of a long one) are sampled in one batched pass.
Not thread-safe by design: the GPU worker thread is its only caller.

Start-up is step by step (`warm_up_steps`): the first step makes the eager fast loop ready to speak,
each later one compiles and captures one (batch, length) shape, which is switched in once ready. Until
then that shape runs eagerly: same arithmetic, same output up to fp16 rounding, only slower.
"""

from __future__ import annotations

import gc
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from bot.config import EngineConfig, ModelConfig, VoiceConfig
from bot.engine.chunking import (
    FRAMES_PER_SECOND,
    MAX_TEXT_CHARS,
    SpeakingRate,
    model_transcript,
    split_sentences,
)
from bot.engine.fast_dit import FastDiT
from bot.engine.graphs import GraphedSampler, GraphKey
from bot.engine.loading import load_model, load_vocoder, resolve_device, resolve_dtype
from bot.engine.reference import TARGET_RMS, load_reference
from bot.engine.sampler import EulerCfgSampler
from bot.errors import SynthesisError, TextError, UserError, VoiceError
from bot.events import SAMPLE_RATE, Pcm
from bot.text import clean_text, is_speakable

log = logging.getLogger(__name__)

CROSS_FADE_SECONDS = 0.08

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class Voice:
    """A prepared voice: its reference mel lives on the device for the life of the process."""

    id: str
    ref_text: str
    ref_mel: torch.Tensor  # (1, frames, 100), model dtype, on the device
    ref_rms: float
    rate: SpeakingRate
    speed: float
    gain: float


@dataclass
class _Piece:
    """One model call's worth of text: a sentence group of one request."""

    request: int
    text: str
    voice: Voice
    ids: torch.Tensor
    duration: int


class F5Synthesizer:
    def __init__(self, model_cfg: ModelConfig, voices: list[VoiceConfig], engine: EngineConfig | None = None) -> None:
        self.cfg = model_cfg
        self.engine = engine or EngineConfig()
        self.device = resolve_device(model_cfg.device)
        self.dtype = resolve_dtype(model_cfg.dtype, self.device)
        t0 = time.perf_counter()
        self.model, self.vocab = load_model(model_cfg, self.device, self.dtype)
        self.vocoder = load_vocoder(model_cfg.vocoder, model_cfg.cache_dir, self.device)
        self.vocoder_dtype = DTYPES[self.engine.vocoder_dtype] if self.device.type == "cuda" else torch.float32
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
        others run eagerly. None: every shape takes the prepared path (compiled or captured on first use)."""
        self._voices: dict[str, Voice] = {}
        self._voice_cfgs: dict[str, VoiceConfig] = {}
        for i, voice in enumerate(voices):
            self.add_voice(voice, f"voices[{i}]")

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
        # Buckets only pay where graphs replay fixed shapes; elsewhere exact lengths waste nothing.
        self.bucket = self.engine.bucket_frames if self.graphs is not None else 1
        self.max_batch = self.engine.max_batch if self.fast is not None else 1

    def bucketed(self, frames: int) -> int:
        """`frames` rounded up to the bucket size: the sequence length a loop actually runs at."""
        return -(-frames // self.bucket) * self.bucket

    def _want_compile(self) -> bool:
        if self.engine.compile is not None:
            return self.engine.compile
        if self.device.type != "cuda":
            return False
        import importlib.util

        return importlib.util.find_spec("triton") is not None

    # -- voices ----------------------------------------------------------------------------------------

    def voices(self) -> list[str]:
        return list(self._voices)

    def add_voice(self, cfg: VoiceConfig, name: str = "voice") -> None:
        self._voices[cfg.id] = self._prepare_voice(cfg, name)
        self._voice_cfgs[cfg.id] = cfg

    def set_voices(self, voices: list[VoiceConfig]) -> list[str]:
        """Make `voices` the voice set (a config reload): new or changed ones are prepared first, and
        only when all of them load is the set swapped, so a bad clip leaves the old voices working."""
        prepared: dict[str, Voice] = {}
        for i, cfg in enumerate(voices):
            if cfg.id in self._voices and self._voice_cfgs.get(cfg.id) == cfg:
                prepared[cfg.id] = self._voices[cfg.id]
            else:
                prepared[cfg.id] = self._prepare_voice(cfg, f"voices[{i}]")
        self._voices = prepared
        self._voice_cfgs = {cfg.id: cfg for cfg in voices}
        return list(prepared)

    @torch.inference_mode()
    def _prepare_voice(self, cfg: VoiceConfig, name: str) -> Voice:
        """Load, clean and measure a voice's clip, and put its mel on the device."""
        audio = load_reference(cfg.ref_audio, f"{name}.ref_audio")
        if audio.clipped_from is not None:
            log.warning(
                "%s: reference clipped from %.1f s to %.1f s at a pause; make sure ref_text matches only what "
                "remains, or trim the clip yourself",
                name,
                audio.clipped_from,
                len(audio.pcm) / SAMPLE_RATE,
            )
        ref_text = model_transcript(cfg.ref_text)
        wave = torch.from_numpy(audio.pcm).to(self.device)
        if audio.rms < TARGET_RMS:
            wave = wave * TARGET_RMS / audio.rms
        ref_mel = self.model.mel_spec(wave.unsqueeze(0)).permute(0, 2, 1).to(self.dtype)
        return Voice(
            id=cfg.id,
            ref_text=ref_text,
            ref_mel=ref_mel,
            ref_rms=audio.rms,
            rate=SpeakingRate.of(len(audio.pcm), ref_text),
            speed=cfg.speed,
            gain=float(10 ** (cfg.gain_db / 20)),
        )

    def remove_voice(self, voice_id: str) -> None:
        self._voices.pop(voice_id, None)

    def voice(self, voice_id: str) -> Voice:
        try:
            return self._voices[voice_id]
        except KeyError:
            raise VoiceError(f"unknown voice {voice_id!r} (available: {', '.join(self._voices)})") from None

    # -- synthesis -------------------------------------------------------------------------------------

    def synthesize(self, text: str, voice: str) -> Pcm:
        """Speak `text` in `voice`; long text is split at sentences and joined with a short cross-fade."""
        result = self.synthesize_batch([(text, voice)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def synthesize_batch(self, requests: list[tuple[str, str]]) -> list[Pcm | UserError]:
        """Speak several (text, voice) requests in as few batched passes as fit; a request that cannot be
        spoken (no speakable text, unknown voice) gets its error in its place, the others their audio."""
        results: list[Pcm | UserError | None] = [None] * len(requests)
        pieces: list[_Piece] = []
        for r, (text, voice_id) in enumerate(requests):
            try:
                pieces += self._pieces(r, text, self.voice(voice_id))
            except UserError as err:
                results[r] = err
        waves = self._run_pieces(pieces)
        for r in range(len(requests)):
            if results[r] is None:
                mine = [w for p, w in zip(pieces, waves, strict=True) if p.request == r]
                pcm = cross_fade(mine, int(CROSS_FADE_SECONDS * SAMPLE_RATE))
                gain = self.voice(requests[r][1]).gain
                if gain != 1.0:
                    pcm = np.clip(pcm * gain, -1.0, 1.0)
                results[r] = pcm.astype(np.float32, copy=False)
        return [r for r in results if r is not None]

    def _pieces(self, request: int, text: str, v: Voice) -> list[_Piece]:
        cleaned = clean_text(text, MAX_TEXT_CHARS)
        if not is_speakable(cleaned):
            raise TextError("nothing speakable in the text after cleaning")
        out = []
        for piece in split_sentences(cleaned, v.rate.max_chunk_bytes(v.speed, self.cfg.max_pass_s)):
            ids = self.tokenize(v.ref_text + piece)
            # as upstream: at least one frame beyond both the reference mel and the token count
            n = max(v.rate.ref_frames + v.rate.gen_frames(piece, v.speed), v.ref_mel.shape[1] + 1, ids.shape[1] + 1)
            out.append(_Piece(request=request, text=piece, voice=v, ids=ids, duration=n))
        return out

    def _run_pieces(self, pieces: list[_Piece]) -> list[Pcm]:
        """Sample all pieces, in batches of similar length; GPU out-of-memory on a batch retries its
        pieces one by one, and on a single piece drops the call with a SynthesisError."""
        order = sorted(range(len(pieces)), key=lambda i: pieces[i].duration)
        waves: list[Pcm | None] = [None] * len(pieces)
        for start in range(0, len(order), self.max_batch):
            group = order[start : start + self.max_batch]
            for i, wave in zip(group, self._sample_guarded([pieces[i] for i in group]), strict=True):
                waves[i] = wave
        return [w for w in waves if w is not None]

    def _sample_guarded(self, group: list[_Piece]) -> list[Pcm]:
        out_of_memory = False
        try:
            return self.sample_pieces(group)
        except torch.OutOfMemoryError:
            out_of_memory = True
        if out_of_memory:
            # Released here, outside the except block: its traceback would keep the tensors alive.
            self.release_memory()
            if len(group) > 1:
                log.warning("GPU out of memory on a batch of %d; retrying one by one", len(group))
                return [w for p in group for w in self._sample_guarded([p])]
        chars = sum(len(p.text) for p in group)
        raise SynthesisError(f"GPU out of memory on a {chars}-character text; utterance dropped")

    @torch.inference_mode()
    def sample_pieces(self, group: list[_Piece], seed: int | None = None) -> list[Pcm]:
        noises = [self.initial_noise(p.duration, seed) for p in group]
        if self.fast is None:
            mels = [
                self.sampler.sample(p.voice.ref_mel, p.ids, p.duration, noise)
                for p, noise in zip(group, noises, strict=True)
            ]
        else:
            length = self.bucketed(max(p.duration for p in group))
            items = [(p.voice.ref_mel, p.ids, p.duration, noise) for p, noise in zip(group, noises, strict=True)]
            if self.graphs is not None:
                # Batch sizes round up to a power of two (repeating the first item) so a few graphs serve all.
                items += [items[0]] * (batch_bucket(len(items)) - len(items))
            batch = self.fast.prepare(items, length)
            if self.prepared is not None and GraphedSampler.key(batch) not in self.prepared:
                out = self.fast.sample(batch, eager=True)
            else:
                if self._compile_pending:
                    self._compile_pending = False
                    e = self.engine
                    self.fast.compile(e.resolved_cache_dir(), e.compile_per_bucket, 2 * e.max_graphs + 16)
                out = self.graphs.run(batch) if self.graphs is not None else self.fast.sample(batch)
            mels = [
                torch.cat([p.voice.ref_mel, out[i : i + 1, p.voice.ref_mel.shape[1] : p.duration]], dim=1)
                for i, p in enumerate(group)
            ]
        return [
            self.vocode(mel[:, p.voice.rate.ref_frames :], p.voice.ref_rms) for p, mel in zip(group, mels, strict=True)
        ]

    def release_memory(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def tokenize(self, text: str) -> torch.Tensor:
        from f5_tts.model.utils import convert_char_to_pinyin

        tokens = convert_char_to_pinyin([text])[0]
        return torch.tensor([[self.vocab.get(c, 0) for c in tokens]], dtype=torch.long, device=self.device)

    def initial_noise(self, frames: int, seed: int | None = None) -> torch.Tensor:
        """Upstream's noise for a given seed: a fresh generator seeded like `torch.manual_seed(seed)`."""
        seed = self.cfg.seed if seed is None else seed
        gen = torch.Generator(device=self.device).manual_seed(secrets.randbits(63) if seed is None else seed)
        return torch.randn(frames, 100, generator=gen, device=self.device, dtype=self.dtype).unsqueeze(0)

    def synthesize_piece(self, text: str, v: Voice, seed: int | None = None) -> Pcm:
        """One sentence group, unbatched: what upstream's `infer_batch_process` computes for one chunk."""
        return self.sample_pieces(self._pieces(0, text, v)[:1], seed)[0]

    def vocode(self, mel: torch.Tensor, ref_rms: float) -> Pcm:
        wave = self.vocoder.decode(mel.to(self.vocoder_dtype).permute(0, 2, 1)).float()
        if ref_rms < TARGET_RMS:
            wave = wave * ref_rms / TARGET_RMS
        out: Pcm = wave.squeeze(0).cpu().numpy()
        return out

    # -- start-up --------------------------------------------------------------------------------------

    def warm_up(self, max_gen_seconds: float = 8.0, max_batched_gen_seconds: float = 4.0) -> int:
        """All of `warm_up_steps` at once; returns the number of shapes prepared."""
        return sum(step.startswith("shape") for step in self.warm_up_steps(max_gen_seconds, max_batched_gen_seconds))

    def warm_up_steps(self, max_gen_seconds: float = 8.0, max_batched_gen_seconds: float = 4.0) -> Iterator[str]:
        """Get ready to speak, one bounded step per `next()`, each meant to run between messages.

        The first step speaks one sentence per voice on the eager fast loop (CUDA context, cuBLAS, the
        vocoder): from then on messages are spoken at eager speed. Each later step compiles and (on CUDA)
        captures one length bucket that a danmaku of up to `max_gen_seconds` lands in, for each voice,
        alone and (up to `max_batched_gen_seconds`) in each batch size, and switches it in. The last step
        speaks one sentence through the prepared path; shapes beyond those are prepared on first use, as
        without warm-up. Yields a description of each step done."""
        if self.graphs is None:  # nothing is shape-specific: one sentence is all there is to warm
            for v in self._voices.values():
                self.synthesize("大家好，欢迎来到直播间！", v.id)
            yield "warm"
            return
        sizes = sorted({batch_bucket(b) for b in range(1, self.max_batch + 1)})
        prepared: set[GraphKey] = set()
        self.prepared = prepared
        for v in self._voices.values():
            self.synthesize("大家好，欢迎来到直播间！", v.id)
        yield "eager path warm"
        for v in list(self._voices.values()):  # a reload may change the voices between steps
            start = v.ref_mel.shape[1] + 1
            for b in sizes:
                limit = max_gen_seconds if b == 1 else max_batched_gen_seconds
                end = v.rate.ref_frames + int(limit * FRAMES_PER_SECOND)
                for n in range(start, end + self.bucket, self.bucket):
                    n = min(n, end)
                    key: GraphKey = (b, self.bucketed(n), n < self.bucketed(n))
                    if key not in prepared:
                        prepared.add(key)
                        try:
                            self.sample_pieces([_Piece(0, "好", v, self.tokenize(v.ref_text + "好"), n)] * b, seed=0)
                        except BaseException:
                            prepared.discard(key)  # a step that failed leaves its shape on the eager path
                            raise
                        yield f"shape {key}"
        self.prepared = None
        for v in self._voices.values():
            self.synthesize("大家好，欢迎来到直播间！", v.id)
        yield "prepared path warm"


def batch_bucket(n: int) -> int:
    """The next power of two: the batch sizes that get their own CUDA graphs."""
    return 1 << (n - 1).bit_length()


def cross_fade(waves: list[Pcm], overlap: int) -> Pcm:
    """Join pieces with a linear cross-fade of `overlap` samples (shortened for very short pieces)."""
    if not waves:
        return np.zeros(0, dtype=np.float32)
    out = waves[0]
    for nxt in waves[1:]:
        n = min(overlap, len(out), len(nxt))
        if n == 0:
            out = np.concatenate([out, nxt])
            continue
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        mixed = out[-n:] * (1 - ramp) + nxt[:n] * ramp
        out = np.concatenate([out[:-n], mixed, nxt[n:]])
    return out
