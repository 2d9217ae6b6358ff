"""End-to-end latency: the real daemon (replay source -> filter -> queue -> GPU worker -> null output)
on random full-size weights. Reports p50/p95 from a chat event's arrival (the source yielding it) to
its PCM being handed to the output, at several message rates, beside the engine's time for one short
danmaku alone; then one message every 2 s, short danmaku against the long (92-character) text, whose
first part is streamed (chat-to-first-PCM of the long over the short: the target is <= 1.3).

    python bench/e2e.py --out e2e.json [--rates 1,5,20] [--seconds 12] [--alone 8]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
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
    ap.add_argument("--alone", type=int, default=8, help="messages of each kind, one at a time (0 = skip)")
    args = ap.parse_args()

    import torch

    from bot.config import parse_config
    from bot.pipeline import Daemon
    from bot.sinks.null.sink import NullSink
    from bot.sources.replay.source import ReplayChatSource
    from bot.testing.engine import warm_up

    bm = BenchModel()
    dtype = "float16" if args.device == "cuda" else "float32"
    synth = bm.synthesizer(args.device, dtype)
    t0 = time.perf_counter()
    warm_up(synth)
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

    def replay(name: str, texts: list[str], rate: float) -> dict[str, Any]:
        """The daemon on a replay of `texts` at `rate` a second; chat-to-PCM latencies."""
        path = bm.tmp / f"chat-{name}.jsonl"
        lines = [
            json.dumps({"t": i / rate, "uid": 1000 + i, "uname": f"viewer{i}", "text": t}, ensure_ascii=False)
            for i, t in enumerate(texts)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        data = bm.config(args.device, dtype).model_dump()
        data.update(
            source={"type": "replay", "path": str(path), "speed": 1.0},
            output={"type": "null"},
            # every message reaches the engine: this measures latency, not the flood policy (issue 5)
            queue={"max_size": 256, "max_age_s": 60, "names_off_at": None, "paid_only_at": None},
            text={
                "duplicate_window_s": 0,
                "rate_limit": None,
                "max_chars": 200,
                "max_audio_s": 60,
                "normalize": importlib.util.find_spec("wetext") is not None,  # the device may lack it
            },
            # warmed up above: the daemon's own warm-up would start over on the eager path (issue 19)
            engine={**data["engine"], "warmup": False},
        )
        cfg = parse_config(data, bm.tmp / "config.yaml")
        daemon = Daemon(cfg, ReplayChatSource(str(path), 1.0), lambda: synth, NullSink())
        t0 = time.perf_counter()
        asyncio.run(daemon.run())
        lat = daemon.stats.first_audio_latency
        return {
            "case": name,
            "rate_per_s": rate,
            "messages": len(texts),
            "spoken": daemon.ledger.spoken,
            "drops": dict(daemon.ledger.drops),
            "p50_ms": round(1000 * statistics.median(lat), 1),
            "p95_ms": round(1000 * percentile(lat, 0.95), 1),
            "max_ms": round(1000 * max(lat), 1),
            "wall_s": round(time.perf_counter() - t0, 1),
        }

    for rate in [float(r) for r in args.rates.split(",")]:
        n = max(int(rate * args.seconds), 5)
        row = replay(f"{rate:g}", [rng.choice(SHORT_DANMAKU) for _ in range(n)], rate)
        print(json.dumps(row), flush=True)
        res["rates"].append(row)
    if args.alone:
        short = replay("alone-short", [SHORT_DANMAKU[i % len(SHORT_DANMAKU)] for i in range(args.alone)], 0.5)
        for _ in range(2):  # its shapes (the first piece alone, the rest as a batch) captured, as the short's are
            list(synth.stream_batch([(TEXTS["long"], "ref")]))
        long = replay("alone-long", [TEXTS["long"]] * args.alone, 0.5)
        res["alone"] = {"short": short, "long": long, "long_over_short_p50": round(long["p50_ms"] / short["p50_ms"], 2)}
        print(json.dumps(res["alone"]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(f"\n{res['device']} {res['date']}: one short danmaku alone {res['short_alone_median_s'] * 1000:.1f} ms")
    print(f"{'rate/s':>6} {'msgs':>5} {'spoken':>6} {'p50':>8} {'p95':>8} {'max':>8}")
    for r in res["rates"]:
        print(
            f"{r['rate_per_s']:>6g} {r['messages']:>5} {r['spoken']:>6} {r['p50_ms']:>6.1f}ms {r['p95_ms']:>6.1f}ms "
            f"{r['max_ms']:>6.1f}ms"
        )
    if "alone" in res:
        a = res["alone"]
        print(
            f"one at a time, chat to first PCM p50: short {a['short']['p50_ms']:.1f} ms, long (92 chars, streamed) "
            f"{a['long']['p50_ms']:.1f} ms = {a['long_over_short_p50']:.2f}x"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
