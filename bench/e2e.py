"""End-to-end latency: the real daemon (replay source -> filter -> queue -> GPU worker -> null output)
on random full-size weights. Reports p50/p95 from a chat event's arrival (the source yielding it) to
its PCM being handed to the output, at several message rates, beside the engine's time for one short
danmaku alone.

    python bench/e2e.py --out e2e.json [--rates 1,5,20] [--seconds 12]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import SHORT_DANMAKU, TEXTS, BenchModel


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--rates", default="1,5,20")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()

    import torch

    from bot.config import parse_config
    from bot.pipeline import Daemon
    from bot.sinks.null.sink import NullSink
    from bot.sources.replay.source import ReplayChatSource

    bm = BenchModel()
    dtype = "float16" if args.device == "cuda" else "float32"
    synth = bm.synthesizer(args.device, dtype)
    t0 = time.perf_counter()
    synth.warm_up()
    warm = time.perf_counter() - t0
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    alone = []
    for _ in range(9):
        sync()
        t0 = time.perf_counter()
        synth.synthesize(TEXTS["short"], "ref")
        alone.append(time.perf_counter() - t0)
    res: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "date": time.strftime("%Y-%m-%d"),
        "warm_up_s": round(warm, 2),
        "short_alone_median_s": round(statistics.median(alone[2:]), 4),
        "rates": [],
    }
    rng = random.Random(0)
    for rate in [float(r) for r in args.rates.split(",")]:
        n = max(int(rate * args.seconds), 5)
        replay = bm.tmp / f"chat-{rate:g}.jsonl"
        lines = [
            json.dumps(
                {"t": i / rate, "uid": 1000 + i, "uname": f"viewer{i}", "text": rng.choice(SHORT_DANMAKU)},
                ensure_ascii=False,
            )
            for i in range(n)
        ]
        replay.write_text("\n".join(lines) + "\n", encoding="utf-8")
        data = bm.config(args.device, dtype).model_dump()
        data.update(
            source={"type": "replay", "path": str(replay), "speed": 1.0},
            output={"type": "null"},
            # every message reaches the engine: this measures latency, not the flood policy (issue 5)
            queue={"max_size": 256, "max_age_s": 60, "names_off_at": None, "paid_only_at": None},
            text={"duplicate_window_s": 0, "rate_limit": None},
            engine=data["engine"],
        )
        cfg = parse_config(data, bm.tmp / "config.yaml")
        sink = NullSink()
        daemon = Daemon(cfg, ReplayChatSource(str(replay), 1.0), lambda: synth, sink)
        t0 = time.perf_counter()
        asyncio.run(daemon.run())
        lat = daemon.stats.first_audio_latency
        row = {
            "rate_per_s": rate,
            "messages": n,
            "spoken": daemon.ledger.spoken,
            "drops": dict(daemon.ledger.drops),
            "p50_ms": round(1000 * statistics.median(lat), 1),
            "p95_ms": round(1000 * percentile(lat, 0.95), 1),
            "max_ms": round(1000 * max(lat), 1),
            "wall_s": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(row), flush=True)
        res["rates"].append(row)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(f"\n{res['device']} {res['date']}: one short danmaku alone {res['short_alone_median_s'] * 1000:.1f} ms")
    print(f"{'rate/s':>6} {'msgs':>5} {'spoken':>6} {'p50':>8} {'p95':>8} {'max':>8}")
    for r in res["rates"]:
        print(
            f"{r['rate_per_s']:>6g} {r['messages']:>5} {r['spoken']:>6} {r['p50_ms']:>6.1f}ms {r['p95_ms']:>6.1f}ms "
            f"{r['max_ms']:>6.1f}ms"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
