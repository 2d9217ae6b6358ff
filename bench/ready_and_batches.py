"""Issue 19 items 1 and 3 on one GPU, in one run: where start-up time goes, first sound after a
(re)start, and what batching mixed-length danmaku costs by grouping.

    python bench/ready_and_batches.py --work /tmp/rb --out $OUT --old-root /tmp/old \
        --first-sound old-warm@1,cold@1,warm@0.5 [--skip-batches] [--no-normalize]

1. Imports, each in a fresh interpreter (`-X importtime`): `import torch`; f5-tts's model classes as
   imported before (`from f5_tts.model import CFM, DiT`) and as the engine imports them now; the
   heaviest modules under each.
2. `bench/first_sound.py` as a subprocess per run named in `--first-sound` (`name@messages per second`;
   `cold` a new compile cache, `warm` the same again; a name starting with `old` runs the tree at
   `--old-root`, the code before the change, in the same run): process start to READY and to the
   first PCM of a short danmaku, and each of the first messages' chat-to-PCM against the eager path.
3. In this process, the prepared path (compiled per bucket, CUDA graphs): one short danmaku; eight alike
   batched; the eight mixed-length danmaku (1 to 25 characters) of bench/first_sound.py through
   `synthesize_batch`, and the same pieces sampled under each grouping (contiguous runs of the pieces
   sorted by length), plus the vocoder's share.

Prints a short table; writes `ready_and_batches.json` under `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import SHORT_DANMAKU, TEXTS, BenchModel, cuda_median_s

HERE = Path(__file__).resolve().parent
MIXED = ["好", "666", "主播晚上好", "哈哈哈笑死我了", "这个操作我给满分，太强了！", "刚来的，主播今天玩什么游戏？",
         "前方高能预警，大家注意了！今天的直播太好看", "感谢老板送的火箭！主播的操作一次比一次秀，加油"]  # 1-25 chars
GROUPINGS = {"8": [8], "4+4": [4, 4], "2+2+4": [2, 2, 4], "4+2+2": [4, 2, 2], "2+2+2+2": [2, 2, 2, 2], "1x8": [1] * 8}
IMPORTS = {
    "import_torch": "import torch",
    "import_f5_before": "import torch\nfrom bot.engine.f5_imports import ensure_f5_importable\nensure_f5_importable()\n"
    "from f5_tts.model import CFM, DiT",
    "import_f5_now": "import torch\nfrom bot.engine.f5_imports import f5_model_classes\nf5_model_classes()",
}


def import_profile(code: str) -> dict[str, Any]:
    """Wall time of a fresh interpreter running `code`, and its heaviest imports (cumulative ms)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(2)) / 1000, len(m.group(3)) // 2, m.group(4)))
    top = sorted((r for r in rows if r[1] <= 4), key=lambda r: -r[0])[:14]
    return {"wall_s": round(wall, 2), "top_ms": [[round(ms), depth, name] for ms, depth, name in top]}


def first_sound(root: Path, model: Path, cache: Path, out: Path, rate: str, no_normalize: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(root / "bench" / "first_sound.py"), "--model", str(model), "--cache", str(cache)]
    cmd += ["--out", str(out), "--rate", rate, "--messages", "20" if float(rate) >= 1 else "12"]
    cmd += ["--no-normalize"] if no_normalize else []
    env = {**os.environ, "PYTHONPATH": ":".join([str(root), *os.environ.get("PYTHONPATH", "").split(":")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    res: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    keep = ("loaded", "ready", "able to speak", "prepared")
    res["log_tail"] = [line for line in proc.stderr.splitlines() if any(k in line for k in keep)][:6]
    return res


def batches(bm: BenchModel, cache: Path) -> dict[str, Any]:
    import torch

    synth = bm.synthesizer("cuda", "float16", cache_dir=str(cache))
    from bot.testing import engine

    be, voice = engine.backend(synth), engine.voice(synth, "ref")

    out: dict[str, Any] = {}
    short = cuda_median_s(lambda: synth.synthesize(TEXTS["short"], "ref"))
    out["short_ms"] = round(1000 * short, 1)
    for b in (2, 4, 8):
        t = cuda_median_s(lambda b=b: synth.synthesize_batch([(x, "ref") for x in SHORT_DANMAKU[:b]]))
        out[f"alike{b}_over_short"] = round(t / short, 2)
    t = cuda_median_s(lambda: synth.synthesize_batch([(x, "ref") for x in MIXED]))
    out["mixed8_engine_over_short"] = round(t / short, 2)
    pieces = sorted((engine.pieces(synth, x, "ref")[0] for x in MIXED), key=lambda p: p.duration)
    out["durations"] = [p.duration for p in pieces]
    out["buckets"] = [be.bucketed(p.duration) for p in pieces]
    groupings = {}
    for name, sizes in GROUPINGS.items():
        groups, start = [], 0
        for n in sizes:
            groups.append(pieces[start : start + n])
            start += n
        t = cuda_median_s(lambda groups=groups: [be.sample(g) for g in groups])
        groupings[name] = round(t / short, 2)
    out["mixed8_by_grouping_over_short"] = groupings
    with torch.inference_mode():
        mels = [torch.randn(1, p.duration - voice.rate.ref_frames, 100, device="cuda") for p in pieces]
        out["vocoder_8_separately_over_short"] = round(
            cuda_median_s(lambda: [be.vocode(m.to(be.dtype), voice.ref_rms) for m in mels]) / short, 2
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True, help="folder for the weights and caches (kept between runs)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--first-sound", default="cold@1,warm@1", help="runs of bench/first_sound.py, in order")
    ap.add_argument("--old-root", default=None, help="a tree of the code before the change (runs named old*)")
    ap.add_argument("--no-normalize", action="store_true", help="text.normalize off (a machine without wetext)")
    ap.add_argument("--skip-batches", action="store_true")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    bm = BenchModel(work)
    res: dict[str, Any] = {"label": args.label, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for name, code in IMPORTS.items():
        res[name] = import_profile(code)
    cache, old_cache = work / f"cache-{time.time_ns()}", work / f"cache-old-{time.time_ns()}"
    runs = [run.split("@") for run in filter(None, args.first_sound.split(","))]
    for name, rate in runs:
        old = name.startswith("old")
        root = Path(args.old_root) if old else HERE.parent
        folder = old_cache if old else cache
        res[f"first_sound_{name}"] = first_sound(root, work, folder, work / f"{name}.json", rate, args.no_normalize)
    if not args.skip_batches:
        res["batches"] = batches(bm, cache)
    import torch

    res["device"] = torch.cuda.get_device_name(0)
    res["torch"] = torch.__version__
    (out / "ready_and_batches.json").write_text(json.dumps(res, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"== {args.label} on {res['device']}, torch {res['torch']}, {res['date']}")
    print(" ; ".join(f"{name}: {res[name]['wall_s']} s" for name in IMPORTS))
    for name in ("import_f5_before", "import_f5_now"):
        print(name, ", ".join(f"{name_} {ms} ms" for ms, depth, name_ in res[name]["top_ms"][:8] if depth <= 2))
    for run, rate in runs:
        fs = res[f"first_sound_{run}"]
        if "error" in fs:
            print(f"first sound {run}: ERROR {fs['error'][-600:]}")
            continue
        print(
            f"first sound {run}: ready {fs['start_to_ready_s']} s, first PCM {fs['start_to_first_pcm_s']} s, "
            f"eager short {1000 * fs['eager_short_s']:.0f} ms, slower than eager {fs['slower_than_eager']}/"
            f"{fs['messages']} at {rate}/s, chat->PCM ms {' '.join(f'{x:.0f}' for x in fs['chat_to_pcm_ms'])}"
        )
        for line in fs["log_tail"]:
            print("   ", line)
    if "batches" in res:
        b = res["batches"]
        print(f"short {b['short_ms']} ms; alike b2/b4/b8 over short {b['alike2_over_short']} / "
              f"{b['alike4_over_short']} / {b['alike8_over_short']}; mixed 8 (engine) {b['mixed8_engine_over_short']}")
        print("mixed 8 by grouping over short:", b["mixed8_by_grouping_over_short"])
        print("durations", b["durations"], "buckets", b["buckets"])
        print("vocoder, 8 separately, over short:", b["vocoder_8_separately_over_short"])


if __name__ == "__main__":
    main()
