"""First sound after a (re)start: seconds from this process's start (interpreter, imports and all) to the
first PCM of a short danmaku, through the real daemon (replay source -> queue -> GPU worker -> null
output) on random full-size weights; then the first messages' chat-to-PCM latency beside the eager
path's own time, while the fast path is prepared between them.

    python bench/first_sound.py --model out/model --write-only              # write the weights (not timed)
    python bench/first_sound.py --model out/model --cache out/cache --out cold.json   # a new cache folder: cold
    python bench/first_sound.py --model out/model --cache out/cache --finish --out warm.json   # again: warm
    python bench/first_sound.py --model out/model --cache c2 --rate 0.5 --messages 12 --quiet-first 15 --out q.json

`--finish` then completes the warm-up in the same process and times the prepared path, the difference
of its output from the eager path's (same seed), a long message and eight mixed-length danmaku.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from common import SHORT_DANMAKU, TEXTS, BenchModel, cuda_median_s


def process_start_monotonic() -> float:
    """When this process started, on the time.monotonic() clock (from /proc: 10 ms resolution)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time after boot
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return time.monotonic() - (uptime - started)


STARTED = process_start_monotonic()
MIXED = ["好", "666", "主播晚上好", "哈哈哈笑死我了", "这个操作我给满分，太强了！", "刚来的，主播今天玩什么游戏？",
         "前方高能预警，大家注意了！今天的直播太好看", "感谢老板送的火箭！主播的操作一次比一次秀，加油"]  # 1-25 chars


class Stamps(logging.Handler):
    """When the daemon said it was ready (READY=1 goes out with that line)."""

    def __init__(self) -> None:
        super().__init__()
        self.ready: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.ready is None and record.getMessage().startswith("ready:"):
            self.ready = time.monotonic()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--write-only", action="store_true")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--quiet-first", type=float, default=0.0,
                    help="seconds of no chat after the first message (as before a stream goes live)")
    ap.add_argument("--finish", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-normalize", action="store_true", help="text.normalize off (a machine without wetext)")
    args = ap.parse_args()
    bm = BenchModel(Path(args.model))
    if args.write_only:
        return

    import asyncio

    import numpy as np
    import torch

    from bot.config import parse_config
    from bot.engine.synthesizer import F5Synthesizer
    from bot.events import Utterance
    from bot.pipeline import Daemon
    from bot.sinks.null.sink import NullSink
    from bot.sources.replay.source import ReplayChatSource
    from bot.testing.engine import backend, warm_up

    class StampSink(NullSink):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        async def play(self, utterance: Utterance) -> None:
            self.times.append(time.monotonic())
            await super().play(utterance)

    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f %(name)s: %(message)s")
    stamps = Stamps()
    logging.getLogger().addHandler(stamps)
    for name in ("bot.worker", "bot.engine.graphs"):  # each background warm-up step, each capture, their times
        logging.getLogger(name).setLevel(logging.DEBUG)
    replay = bm.tmp / "first.jsonl"
    lines = [
        {"t": i / args.rate + (args.quiet_first if i else 0.0), "uid": 1000 + i, "uname": f"v{i}",
         "text": SHORT_DANMAKU[i % len(SHORT_DANMAKU)]}
        for i in range(args.messages)
    ]
    replay.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    data = bm.config("cuda", "float16", model={"seed": 0}, cache_dir=args.cache).model_dump()
    data.update(
        source={"type": "replay", "path": str(replay), "speed": 1.0},
        output={"type": "null"},
        queue={"max_size": 256, "max_age_s": 60, "names_off_at": None, "paid_only_at": None},
        text={"duplicate_window_s": 0, "rate_limit": None, **({"normalize": False} if args.no_normalize else {})},
        http={"enabled": False},
    )
    cfg = parse_config(data, bm.tmp / "config.yaml")
    synths: list[F5Synthesizer] = []

    def factory() -> F5Synthesizer:
        synths.append(F5Synthesizer(cfg.model, cfg.voices, cfg.engine, cfg.text.max_audio_s))
        return synths[0]

    sink = StampSink()
    daemon = Daemon(cfg, ReplayChatSource(str(replay), 1.0), factory, sink)
    asyncio.run(daemon.run())
    synth = synths[0]
    lat = list(daemon.stats.first_audio_latency)

    def short() -> Any:
        return synth.synthesize(TEXTS["short"], "ref")

    backend(synth).prepared = set()  # every shape eager: the path the first messages may take
    backend(synth).captured_plain.clear()
    eager_s = cuda_median_s(short)
    eager_pcm = short()
    res: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0),
        "date": time.strftime("%Y-%m-%d"),
        "cache": args.cache,
        "start_to_ready_s": round((stamps.ready or float("nan")) - STARTED, 2),
        "start_to_first_pcm_s": round(sink.times[0] - STARTED, 2),
        "eager_short_s": round(eager_s, 4),
        "messages": len(lat),
        "chat_to_pcm_ms": [round(1000 * x, 1) for x in lat],
        "slower_than_eager": sum(x > eager_s * 1.1 + 0.01 for x in lat),
    }
    if args.finish:
        backend(synth).prepared = None
        t0 = time.perf_counter()
        shapes = warm_up(synth)
        res["finish_warm_up_s"] = round(time.perf_counter() - t0, 2)
        res["shapes"] = shapes
        fast_s = cuda_median_s(short)
        fast_pcm = short()
        n = min(len(eager_pcm), len(fast_pcm))
        diff = eager_pcm[:n] - fast_pcm[:n]
        long_s = cuda_median_s(lambda: synth.synthesize(TEXTS["long"], "ref"))
        mixed_s = cuda_median_s(lambda: synth.synthesize_batch([(t, "ref") for t in MIXED]))
        alike_s = cuda_median_s(lambda: synth.synthesize_batch([(t, "ref") for t in SHORT_DANMAKU]))
        res.update(
            prepared_short_s=round(fast_s, 4),
            eager_vs_prepared_max_abs=float(np.abs(diff).max()),
            eager_vs_prepared_rel_l2=float(np.linalg.norm(diff) / max(np.linalg.norm(fast_pcm[:n]), 1e-9)),
            long_s=round(long_s, 4),
            long_over_short=round(long_s / fast_s, 2),
            mixed8_s=round(mixed_s, 4),
            mixed8_over_short=round(mixed_s / fast_s, 2),
            alike8_over_short=round(alike_s / fast_s, 2),
        )
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in res.items() if k != "chat_to_pcm_ms"}), flush=True)
    print("chat-to-PCM ms:", " ".join(f"{x:.0f}" for x in res["chat_to_pcm_ms"]), flush=True)


if __name__ == "__main__":
    main()
