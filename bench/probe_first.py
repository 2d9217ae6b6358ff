"""Probe: where the time of the first short danmaku after warm-up goes, phase by phase.

python bench/probe_first.py
"""

from __future__ import annotations

import time

import torch
from common import TEXTS, BenchModel


def main() -> None:
    bm = BenchModel()
    synth = bm.synthesizer("cuda", "float16")
    t0 = time.perf_counter()
    synth.warm_up()
    print(f"warm-up {time.perf_counter() - t0:.1f} s, graphs {len(synth.graphs)}")
    v = synth.voice("ref")
    for attempt in range(3):
        marks = [("start", time.perf_counter())]
        pieces = synth._pieces(0, TEXTS["short"], v)
        marks.append(("tokenise", time.perf_counter()))
        p = pieces[0]
        noise = synth.initial_noise(p.duration)
        length = synth.bucketed(p.duration)
        batch = synth.fast.prepare([(v.ref_mel, p.ids, p.duration, noise)], length)
        torch.cuda.synchronize()
        marks.append(("prepare", time.perf_counter()))
        out = synth.graphs.run(batch)
        torch.cuda.synchronize()
        marks.append((f"graph{'(captured)' if synth.graphs.captures else ''}", time.perf_counter()))
        synth.vocode(out[:, v.rate.ref_frames : p.duration], v.ref_rms)
        marks.append(("vocode+copy", time.perf_counter()))
        print(
            f"attempt {attempt}: "
            + ", ".join(f"{name} {1000 * (t - marks[i][1]):.1f} ms" for i, (name, t) in enumerate(marks[1:]))
        )


if __name__ == "__main__":
    main()
