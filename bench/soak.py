"""Memory soak: the real daemon (a synthetic live chat -> filter -> queue -> GPU worker -> null output, the
HTTP API polled as the status page does) on the tiny random-weight model, for a while at a steady rate.
Reports RSS at the end of the warm-up and at the end, and the slope after warm-up (least squares over
samples every 5 s); with --tracemalloc, the Python allocations that grew most between those two points.

    python bench/soak.py [--minutes 10] [--rate 50] [--warmup-s 60] [--device cpu] [--tracemalloc]
                         [--no-heap-trim]

Target: flat within 2 MB per 10 minutes after warm-up. The chat mixes 5,000 recurring viewers with a
stream of new ones, messages of every length (so every shape reaches the engine), super chats, gifts,
and moderator commands, as a busy room does.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import json
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.events import ChatEvent, EventKind, Role

WORDS = ["主播", "好厉害", "这波", "操作", "太秀了", "加油", "哈哈哈", "关注了", "晚上好", "666", "gg", "nice"]
SAMPLE_S = 5.0


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ]


def heap_mb() -> tuple[float, float] | None:
    """glibc's (in use, free but kept) heap in MB: a leak grows the first, fragmentation the second."""
    try:
        info = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    info.restype = _MallInfo2
    m = info()
    return (m.uordblks + m.hblkhd) / 2**20, m.fordblks / 2**20


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return 60.0 * sum((t - mt) * (r - mr) for t, r in samples) / var if var else 0.0


class SoakChat:
    """A live-like chat at `rate` events/s until cancelled."""

    connected = True

    def __init__(self, rate: float, seed: int = 0) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.sent = 0

    def event(self) -> ChatEvent:
        rng, n = self.rng, self.sent
        uid = rng.randrange(1, 5_000) if rng.random() < 0.7 else 1_000_000 + n  # regulars and newcomers
        text = "".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 12)))
        kind, price = EventKind.DANMAKU, 0.0
        roll = rng.random()
        if roll < 0.02:
            kind, price = EventKind.SUPER_CHAT, 30.0
        elif roll < 0.03:
            kind, text = EventKind.GIFT, "辣条"
        elif roll < 0.035:
            return ChatEvent(text=f"#tts mute {uid} 60", uid=42, uname="房管", role=Role.MODERATOR)
        return ChatEvent(text=text, uid=uid, uname=f"观众{uid}", kind=kind, price=price, msg_id=f"m{n}")

    async def events(self) -> AsyncIterator[ChatEvent]:
        t0 = time.monotonic()
        while True:
            self.sent += 1
            yield self.event()
            ahead = t0 + self.sent / self.rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)


def tiny_config(device: str) -> Any:
    from bot.config import parse_config
    from bot.testing.tiny_model import write_tiny_model
    from bot.testing.voice_clips import ZH_REF, ZH_TEXT

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    model = write_tiny_model(tmp / "tiny")
    data = {
        "model": {
            "checkpoint": str(model / "model.safetensors"),
            "vocab": str(model / "vocab.txt"),
            "vocoder": str(model / "vocos"),
            "architecture": "tiny",
            "device": device,
            "seed": 0,
        },
        "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": ZH_TEXT}],
        "source": {"type": "console"},
        "output": {"type": "null"},
        "http": {"port": 0},
        "state_dir": str(tmp / "state"),
    }
    return parse_config(data, tmp / "config.yaml")


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from bot.engine.synthesizer import F5Synthesizer
    from bot.http_api import HttpApi
    from bot.pipeline import Daemon
    from bot.sinks.null.sink import NullSink

    cfg = tiny_config(args.device)
    chat = SoakChat(args.rate)
    engine = lambda: F5Synthesizer(cfg.model, cfg.voices, cfg.engine, cfg.text.max_audio_s)  # noqa: E731
    daemon = Daemon(cfg, chat, engine, NullSink())
    api = HttpApi(daemon, cfg.http, token="soak")
    await api.start()
    run = asyncio.create_task(daemon.run())
    while not daemon.ready:
        await asyncio.sleep(0.1)
    base, auth = f"http://127.0.0.1:{api.port}", {"Authorization": "Bearer soak"}
    samples: list[tuple[float, float]] = []
    in_use: list[tuple[float, float]] = []
    t0 = time.monotonic()
    warm_end = t0 + args.warmup_s
    end = warm_end + args.minutes * 60
    before: tracemalloc.Snapshot | None = None
    async with aiohttp.ClientSession() as http:
        while (now := time.monotonic()) < end:
            for path in ("/api/status", "/api/queue", "/metrics", "/healthz"):
                async with http.get(base + path, headers=auth) as r:
                    await r.read()
            if now >= warm_end:
                if before is None and args.tracemalloc:
                    before = tracemalloc.take_snapshot()
                samples.append((now - warm_end, rss_mb()))
                heap = heap_mb()
                if heap is not None:
                    in_use.append((now - warm_end, heap[0]))
                shown = f"heap in use {heap[0]:7.1f} MB, free kept {heap[1]:6.1f} MB  " if heap else ""
                print(f"{now - t0:7.0f} s  rss {samples[-1][1]:8.1f} MB  {shown}{daemon.status_line()}", flush=True)
            await asyncio.sleep(SAMPLE_S)
    grown = []
    if before is not None:
        after = tracemalloc.take_snapshot()
        for stat in after.compare_to(before, "lineno")[:15]:
            grown.append(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d}  {stat.traceback[0]}")
    daemon.request_stop()
    await run
    await api.stop()
    return {
        "device": args.device,
        "date": time.strftime("%Y-%m-%d"),
        "rate_per_s": args.rate,
        "heap_trim": not args.no_heap_trim,
        "warmup_s": args.warmup_s,
        "minutes": args.minutes,
        "events": chat.sent,
        "spoken": daemon.ledger.spoken,
        "drops": dict(daemon.ledger.drops),
        "rss_start_mb": round(samples[0][1], 1),
        "rss_end_mb": round(samples[-1][1], 1),
        "slope_mb_per_10min": round(10 * slope_mb_per_min(samples), 2),
        "heap_in_use_start_mb": round(in_use[0][1], 1) if in_use else None,
        "heap_in_use_end_mb": round(in_use[-1][1], 1) if in_use else None,
        "heap_in_use_slope_mb_per_10min": round(10 * slope_mb_per_min(in_use), 2) if in_use else None,
        "python_growth": grown,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0, help="measured after the warm-up")
    ap.add_argument("--rate", type=float, default=50.0, help="chat events per second")
    ap.add_argument("--warmup-s", type=float, default=60.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tracemalloc", action="store_true", help="trace Python allocations (slows the run)")
    ap.add_argument("--out", default=None, help="write the result as JSON here")
    ap.add_argument("--no-heap-trim", action="store_true", help="as before the fix: freed heap kept (comparison)")
    args = ap.parse_args()
    if args.no_heap_trim:
        import bot.heap

        bot.heap._malloc_trim = None
    if args.tracemalloc:
        tracemalloc.start(1)
    res = asyncio.run(soak(args))
    for line in res["python_growth"]:
        print(line)
    print(
        f"\n{res['device']} {res['date']}: {res['events']} events at {res['rate_per_s']:g}/s, "
        f"{res['spoken']} spoken; RSS {res['rss_start_mb']} -> {res['rss_end_mb']} MB after "
        f"{res['warmup_s']:g} s warm-up, slope {res['slope_mb_per_10min']:+.2f} MB/10 min"
    )
    if res["heap_in_use_start_mb"] is not None:
        print(
            f"heap in use {res['heap_in_use_start_mb']} -> {res['heap_in_use_end_mb']} MB, "
            f"slope {res['heap_in_use_slope_mb_per_10min']:+.2f} MB/10 min"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
