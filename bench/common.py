"""What the benchmarks share: random full-size weights in the published formats, a 6 s reference clip and
the texts below (those of the project's first measurement of upstream alone, so figures compare with it),
and a synthesizer built through the real config."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REF_TEXT = "大家好，欢迎来到我的直播间，今天我们一起玩一会儿游戏吧。"  # ~6 s of speech
TEXTS = {
    "short": "主播好厉害，这波操作太秀了！",
    "medium": "刚来的朋友们记得点个关注，今天晚上八点我们还有一场特别活动，不要错过哦，大家一起来玩吧！",
    "long": (
        "感谢老板送的火箭！今天的直播真的太精彩了，主播的操作一次比一次秀，"
        "我从下午一直看到现在都舍不得走。希望主播以后也能保持这样的状态，"
        "多开几场这样的直播，我们一定会一直支持你的，加油加油！"
    ),
}
SHORT_DANMAKU = [
    "主播好厉害，这波操作太秀了！",
    "这把稳了，冲冲冲，加油主播！",
    "刚来的，主播今天玩什么游戏？",
    "前方高能预警，大家注意了！",
    "哈哈哈笑死我了，太有意思了",
    "主播晚上好，今天状态不错啊",
    "关注了关注了，以后天天来看",
    "这个操作我给满分，太强了！",
]
SR = 24_000


class BenchModel:
    """Random F5TTS_v1_Base + full-size Vocos written once to a temp folder, and a 6 s reference."""

    def __init__(self, folder: Path | None = None) -> None:
        """Written into a fresh temp folder, or into `folder` (kept there: a later run that names the same
        folder reuses the files and so times only what comes after)."""
        from bot.engine.f5_imports import ensure_f5_importable

        ensure_f5_importable()
        import numpy as np
        import soundfile as sf

        from bot.testing.tiny_model import write_tiny_model

        self.tmp = folder or Path(tempfile.mkdtemp(prefix="bench-"))
        self.dir = self.tmp / "model"
        t0 = time.perf_counter()
        if not (self.dir / "model.safetensors").is_file():
            write_tiny_model(self.dir, seed=0, architecture="F5TTS_v1_Base", full_vocos=True)
        self.write_s = time.perf_counter() - t0
        t = np.arange(int(6.0 * SR)) / SR
        rng = np.random.default_rng(0)
        ref = 0.1 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        self.ref = (ref + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
        self.ref_path = self.tmp / "ref.wav"
        sf.write(self.ref_path, self.ref, SR, subtype="FLOAT")

    def config(self, device: str, dtype: str, model: dict[str, Any] | None = None, **engine: Any) -> Any:
        from bot.config import parse_config

        data = {
            "model": {
                "checkpoint": str(self.dir / "model.safetensors"),
                "vocab": str(self.dir / "vocab.txt"),
                "vocoder": str(self.dir / "vocos"),
                "architecture": "F5TTS_v1_Base",
                "device": device,
                "dtype": dtype,
                "nfe_step": 16,
                **(model or {}),
            },
            "engine": engine,
            "voices": [{"id": "ref", "ref_audio": str(self.ref_path), "ref_text": REF_TEXT}],
            "source": {"type": "console"},
            "output": {"type": "null"},
        }
        return parse_config(data, self.tmp / "config.yaml")

    def synthesizer(self, device: str, dtype: str, **engine: Any) -> Any:
        from bot.engine.synthesizer import F5Synthesizer

        cfg = self.config(device, dtype, **engine)
        return F5Synthesizer(cfg.model, cfg.voices, cfg.engine)


def cuda_median_s(fn: Callable[[], object], runs: int = 5, warm: int = 2) -> float:
    """Median wall seconds of `runs` calls of `fn` after `warm` untimed ones (a first call may compile or
    capture its shape), the GPU synchronised around each."""
    import torch

    for _ in range(warm):
        fn()
    times = []
    for _ in range(runs):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
