"""What the speech stage costs per message on the CPU: the danmaku pre-pass + wetext normaliser alone,
and the whole stage (language, voice, normalising, duration cap), over a realistic danmaku mix and a
hostile worst case; and how late a 1 ms ticker on the event loop runs while hostile lines are prepared
in the stage's thread (as the daemon does it).

    python bench/normalize.py [--out normalize.json] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import SpokenConfig
from bot.engine.chunking import FRAMES_PER_SECOND, SpeakingRate
from bot.events import ChatEvent, SpeechRequest
from bot.speech.language import dominant_language
from bot.speech.prepare import SpeechPreparer, shared_normalizer
from bot.speech.voices import VoiceProfile
from tests.speech.test_normalizer_table import TABLE

PLAIN = [
    "主播好厉害，这波操作太秀了！",
    "哈哈哈",
    "前方高能",
    "关注了关注了",
    "主播今天几点下播呀？",
    "hello from Berlin, first time here",
    "今天的 boss 战太难了 lol",
    "这首歌叫什么名字",
    "再见啦，明天见",
    "Is this the real life? Is this just fantasy?",
]
"""Most danmaku have no digit at all; the mix is the 163-case table plus these, as chat is."""

HOSTILE = [
    "1" * 240,
    "3.5元，" * 40,
    "主播666今天3点开播" * 12,
    "1.2.3.4." * 30,
    "hello 2 you " * 20,
    "12:30 " * 40,
]
"""The longest text the filters let through at max_chars 60 is 240 characters (60 units of ½)."""


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def stats_ms(xs: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(xs, 0.5) * 1e3, 3),
        "p99": round(percentile(xs, 0.99) * 1e3, 3),
        "max": round(max(xs) * 1e3, 3),
    }


def timed(fn: Any, texts: list[str], rounds: int) -> dict[str, dict[str, float]]:
    """Per message: CPU time of this thread (the cost, whatever else the machine runs) and wall time
    (which on a shared machine includes being preempted)."""
    cpu, wall = [], []
    for _ in range(rounds):
        for text in texts:
            c0, w0 = time.thread_time(), time.perf_counter()
            fn(text)
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
    return {"cpu_ms": stats_ms(cpu), "wall_ms": stats_ms(wall)}


async def loop_lag(preparer: SpeechPreparer | None, texts: list[str]) -> float:
    """The worst lateness of a 1 ms ticker while `texts` are prepared in a thread, one by one (None:
    the same time idle, for the machine's own jitter)."""
    lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t0 - 0.001)

    tick = asyncio.create_task(ticker())
    for text in texts:
        if preparer is None:
            await asyncio.sleep(0.01)
        else:
            await asyncio.to_thread(preparer.prepare_all, [request(text)])
    done = True
    await tick
    return max(lags)


def request(text: str) -> SpeechRequest:
    return SpeechRequest(text=text, voice="zh", event=ChatEvent(text=text, uid=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    normalizer = shared_normalizer()
    load_s = time.perf_counter() - t0
    pace = SpeakingRate(ref_frames=int(6.21 * FRAMES_PER_SECOND), ref_text_bytes=51)
    profiles = {"zh": VoiceProfile("zh", "zh", pace), "en": VoiceProfile("en", "en", pace)}
    preparer = SpeechPreparer(SpokenConfig(), profiles, normalizer, lambda uid: False, "等等")
    mix = [text for text, _ in TABLE] + PLAIN * 3

    def normalize(text: str) -> str:
        return normalizer.normalize(text, dominant_language(text) or "zh")

    def stage(text: str) -> object:
        return preparer.prepare(request(text))

    result = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}",
        "load_s": round(load_s, 3),
        "messages": len(mix),
        "normalizer_mix": timed(normalize, mix, args.rounds),
        "stage_mix": timed(stage, mix, args.rounds),
        "stage_hostile": timed(stage, HOSTILE, max(args.rounds // 4, 1)),
        "loop_lag_ms_idle": round(asyncio.run(loop_lag(None, HOSTILE * 3)) * 1e3, 3),
        "loop_lag_ms_while_hostile": round(asyncio.run(loop_lag(preparer, HOSTILE * 3)) * 1e3, 3),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
