"""Engine benchmark: upstream f5-tts and our engine in one process, on the same random full-size weights.

F5TTS_v1_Base (337 M parameters) and Vocos mel-24khz with random weights have the trained models'
FLOPs; the 6 s reference and the three texts are bench/common.py's, those of the project's first
measurement of upstream alone, so figures compare with it. Upstream is timed through its own
`infer_batch_process` (the path of its CLI, API and socket server), ours through
`F5Synthesizer.synthesize_batch` (tokenise, sample, vocode, copy to the host). Median and p95 of
`--runs` runs after warm-up; peak GPU memory per configuration. Also: accuracy of our fp16/bf16 paths
and upstream's fp16 against upstream in fp32 on the same noise, vocoder precision, cold start.

    python bench/engine.py --out engine.json            # any CUDA machine, no downloads
    python bench/engine.py --device cpu --nfe 16 --texts short --batches 1 --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import REF_TEXT, SHORT_DANMAKU, SR, TEXTS, BenchModel


def stats(times: list[float]) -> dict[str, float]:
    s = sorted(times)
    return {
        "median_s": round(statistics.median(s), 4),
        "p95_s": round(s[min(len(s) - 1, round(0.95 * (len(s) - 1)))], 4),
        "min_s": round(s[0], 4),
    }


def timed(fn: Any, runs: int, sync: Any) -> list[float]:
    out = []
    for _ in range(runs):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--nfe", default="32,16,8")
    ap.add_argument("--texts", default="short,medium,long")
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--skip-upstream", action="store_true")
    ap.add_argument("--skip-variants", action="store_true")
    ap.add_argument("--skip-warm-up", action="store_true",
                    help="no full warm-up: each shape is compiled and captured on first use (not timed)")
    args = ap.parse_args()

    import numpy as np
    import torch

    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    res: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "argv": sys.argv[1:],
    }
    bm = BenchModel()
    from bot.testing.engine import backend, warm_up
    res["write_random_checkpoint_s"] = round(bm.write_s, 1)
    sr, ref = SR, bm.ref

    def make(dtype: str, **engine: Any) -> Any:
        return bm.synthesizer(args.device, dtype, **engine)

    half = "float16" if cuda else "float32"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    ours = make(half)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    shapes = 0 if args.skip_warm_up else warm_up(ours)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours.synthesize(TEXTS["short"], "ref")
    res["cold_start"] = {
        "load_s": round(load_s, 2),
        "warm_up_s": round(warm_s, 2),
        "warm_up_shapes": shapes,
        "first_short_s": round(time.perf_counter() - t0, 4),
    }
    print(json.dumps(res["cold_start"]), flush=True)

    if cuda:
        res["accuracy"] = accuracy(ours, make, bm.ref_path)
        print(json.dumps(res["accuracy"]), flush=True)
        if not args.skip_variants:
            res["variants"] = variants(make, ours, sync, args.runs)
            print(json.dumps(res["variants"]), flush=True)

    from bot.engine.f5_imports import ensure_upstream_infer_importable

    ensure_upstream_infer_importable()
    from f5_tts.infer.utils_infer import infer_batch_process

    ref_t = torch.from_numpy(ref.astype(np.float32)).unsqueeze(0)

    def upstream_call(kw: dict[str, Any]) -> Any:
        return lambda texts: next(infer_batch_process((ref_t, sr), REF_TEXT, texts, **kw))[0]

    rows = []
    for nfe in [int(n) for n in args.nfe.split(",")]:
        backend(ours).set_steps(nfe)
        for name in args.texts.split(","):
            text = TEXTS[name]
            row: dict[str, Any] = {"nfe": nfe, "text": name, "chars": len(text)}
            if not args.skip_upstream:
                kw = dict(
                    model_obj=backend(ours).model,
                    vocoder=backend(ours).vocoder,
                    mel_spec_type="vocos",
                    progress=None,
                    nfe_step=nfe,
                    cfg_strength=2.0,
                    sway_sampling_coef=-1.0,
                    speed=1.0,
                    device=args.device,
                    cross_fade_duration=0.15,
                    target_rms=0.1,
                )

                def upstream(text: str = text, kw: dict[str, Any] = kw) -> Any:
                    return upstream_call(kw)([text])

                wave = None
                for _ in range(2):
                    wave = upstream()
                row["audio_s"] = round(len(wave) / sr, 3)
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                row["upstream"] = stats(timed(upstream, args.runs, sync))
                if cuda:
                    row["upstream"]["peak_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            for b in [int(x) for x in args.batches.split(",")]:
                texts = SHORT_DANMAKU if name == "short" else [text]
                reqs = [(text if b == 1 else texts[i % len(texts)], "ref") for i in range(b)]
                for _ in range(2):
                    out = ours.synthesize_batch(reqs)
                if b == 1:
                    row.setdefault("audio_s", round(len(out[0]) / sr, 3))
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                st = stats(timed(lambda reqs=reqs: ours.synthesize_batch(reqs), args.runs, sync))
                if cuda:
                    st["peak_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
                row[f"ours_b{b}"] = st
            if name == "long":
                one_pass_and_pieces(row, ours, text, args, sync, None if args.skip_upstream else upstream_call(kw))
            if "upstream" in row:
                row["speedup_b1"] = round(row["upstream"]["median_s"] / row["ours_b1"]["median_s"], 2)
            print(json.dumps(row), flush=True)
            rows.append(row)
    res["runs"] = rows
    graphs = backend(ours).graphs
    res["graphs_resident"] = len(graphs) if graphs is not None else 0

    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1), encoding="utf-8")
    print_table(res)


def one_pass_and_pieces(row: dict[str, Any], ours: Any, text: str, args: Any, sync: Any, upstream: Any) -> None:
    """The long text both ways, for equal work on each side: ours in one pass like the upstream call above
    (`model.max_pass_s: 30`), and upstream given the pieces ours splits it into (what upstream's own
    `infer_process` does with its 22 s rule: the pieces one after another)."""
    from bot.testing.engine import backend
    from bot.testing.engine import pieces as planned

    pieces = [p.text for p in planned(ours, text, "ref")]
    row["pieces"] = len(pieces)
    if upstream is not None:
        for _ in range(2):
            upstream(pieces)
        row["upstream_pieces"] = stats(timed(lambda: upstream(pieces), args.runs, sync))
        row["speedup_pieces"] = round(row["upstream_pieces"]["median_s"] / row["ours_b1"]["median_s"], 2)
    be = backend(ours)
    split_cfg = be.cfg
    be.cfg = split_cfg.model_copy(update={"max_pass_s": 30.0})
    try:
        for _ in range(2):
            ours.synthesize(text, "ref")
        row["ours_one_pass_b1"] = stats(timed(lambda: ours.synthesize(text, "ref"), args.runs, sync))
    finally:
        be.cfg = split_cfg
    if "upstream" in row:
        row["speedup_one_pass"] = round(row["upstream"]["median_s"] / row["ours_one_pass_b1"]["median_s"], 2)


def accuracy(ours16: Any, make: Any, ref_path: Path) -> dict[str, Any]:
    """‖x − upstream_fp32‖ / ‖upstream_fp32‖ on the generated mel and waveform, NFE 16, same noise."""
    import torch
    from f5_tts.model.utils import convert_char_to_pinyin

    from bot.testing.engine import backend, voice

    ours_bf = make("bfloat16")
    up32 = make("float32", fast=False)
    text, seed = TEXTS["medium"], 1234
    # Both are measured on the path the daemon serves from once prepared (compiled blocks, the position
    # convolutions' Triton kernel, CUDA graphs): `ours16` was warmed up; one call sets up `ours_bf`.
    ours_bf.synthesize(text, "ref")
    v = voice(ours16, "ref")
    n = v.rate.ref_frames + v.rate.gen_frames(text)
    gen = slice(v.rate.ref_frames, n)
    noise16 = torch.Generator(device="cuda").manual_seed(seed)
    check16 = torch.randn(n, 100, generator=noise16, device="cuda", dtype=torch.float16)
    noise32 = torch.Generator(device="cuda").manual_seed(seed)
    check32 = torch.randn(n, 100, generator=noise32, device="cuda", dtype=torch.float32)
    out: dict[str, Any] = {"noise_fp16_vs_fp32_maxdiff": float((check16.float() - check32).abs().max())}

    def upstream_mel(synth: Any) -> torch.Tensor:
        from bot.engine.reference import load_reference

        audio = load_reference(str(ref_path), "ref")
        w = torch.tensor(audio.pcm).unsqueeze(0).cuda()
        if audio.rms < 0.1:
            w = w * 0.1 / audio.rms
        mel, _ = backend(synth).model.sample(
            cond=w,
            text=convert_char_to_pinyin([voice(synth, "ref").ref_text + text]),
            duration=n,
            steps=16,
            cfg_strength=2.0,
            sway_sampling_coef=-1.0,
            seed=seed,
        )
        return mel.float()

    def our_mel(synth: Any) -> torch.Tensor:
        vv, be = voice(synth, "ref"), backend(synth)
        batch = be.fast.prepare(
            [(vv.ref_mel, be.tokenize(vv.ref_text + text), n, be.initial_noise(n, seed))],
            be.bucketed(n),
        )
        o = be.graphs.run(batch)[:, :n].float().clone()
        return torch.cat([vv.ref_mel.float(), o[:, vv.ref_mel.shape[1] :]], dim=1)

    ref = upstream_mel(up32)[:, gen]
    candidates = {
        "upstream_fp16": upstream_mel(ours16)[:, gen],
        "ours_fp16": our_mel(ours16)[:, gen],
        "ours_bf16": our_mel(ours_bf)[:, gen],
    }
    voc = backend(up32).vocoder

    def wave(mel: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        with torch.inference_mode():
            return voc.to(dtype).decode(mel.to(dtype).permute(0, 2, 1)).float()

    ref_wave = wave(ref)
    for name, mel in candidates.items():
        out[name] = {"mel_rel_err": _rel(mel, ref), "wave_rel_err": _rel(wave(mel), ref_wave)}
    for name, dt in (("vocoder_fp16", torch.float16), ("vocoder_bf16", torch.bfloat16)):
        out[name] = {"wave_rel_err_same_mel": _rel(wave(ref, dt), ref_wave)}
    voc.to(torch.float32)
    return out


def variants(make: Any, ours: Any, sync: Any, runs: int) -> dict[str, Any]:
    """What each engine setting buys: one short and one medium danmaku at NFE 16, batch 1."""
    import torch

    out: dict[str, Any] = {}
    configs = {
        "plain_loop": dict(fast=False),
        "fast_eager": dict(cuda_graphs=False, compile=False),
        "graphs_no_compile": dict(compile=False),
        "graphs_compile_vocoder_fp16": dict(vocoder_dtype="float16"),
    }
    for name, engine in configs.items():
        synth = make("float16", warmup=False, **engine)
        for text in ("short", "medium"):
            for _ in range(2):
                synth.synthesize(TEXTS[text], "ref")
            out[f"{name}/{text}"] = stats(timed(lambda t=text, s=synth: s.synthesize(TEXTS[t], "ref"), runs, sync))[
                "median_s"
            ]
        del synth
        torch.cuda.empty_cache()
    for text in ("short", "medium"):
        out[f"graphs_compile/{text}"] = stats(timed(lambda t=text: ours.synthesize(TEXTS[t], "ref"), runs, sync))[
            "median_s"
        ]
    return out


def _rel(a: Any, b: Any) -> float:
    return round(float((a.double() - b.double()).norm() / b.double().norm()), 6)


def print_table(res: dict[str, Any]) -> None:
    print(f"\n{res['device']}, torch {res['torch']}, {res['date']}")
    print(
        f"{'nfe':>3} {'text':<6} {'audio':>6} | {'upstream':>9} | {'ours b1':>8} {'p95':>7} {'x':>6} | "
        f"{'ours b4':>8} {'ours b8':>8} {'b8/b1':>6} | {'GB':>5}"
    )
    for r in res["runs"]:
        up = r.get("upstream", {}).get("median_s", float("nan"))
        b1 = r["ours_b1"]["median_s"]
        b4 = r.get("ours_b4", {}).get("median_s", float("nan"))
        b8 = r.get("ours_b8", {}).get("median_s", float("nan"))
        print(
            f"{r['nfe']:>3} {r['text']:<6} {r.get('audio_s', 0):>6.2f} | {up * 1000:>7.1f}ms | {b1 * 1000:>6.1f}ms "
            f"{r['ours_b1']['p95_s'] * 1000:>5.1f}ms {up / b1:>5.1f}x | {b4 * 1000:>6.1f}ms {b8 * 1000:>6.1f}ms "
            f"{b8 / b1:>5.2f}x | {r.get('ours_b8', r['ours_b1']).get('peak_gb', 0):>5.2f}"
        )
    for r in res["runs"]:
        if "ours_one_pass_b1" in r:
            up = r.get("upstream", {}).get("median_s", float("nan"))
            one = r["ours_one_pass_b1"]["median_s"]
            pieces = r.get("upstream_pieces", {}).get("median_s", float("nan"))
            print(
                f"nfe {r['nfe']} long, equal work: one pass upstream {up * 1000:.1f}ms / ours {one * 1000:.1f}ms "
                f"= {up / one:.1f}x; {r['pieces']} pieces upstream {pieces * 1000:.1f}ms / ours "
                f"{r['ours_b1']['median_s'] * 1000:.1f}ms = {pieces / r['ours_b1']['median_s']:.1f}x"
            )
    if "accuracy" in res:
        print("accuracy vs upstream fp32 (NFE 16, medium):", json.dumps(res["accuracy"]))
    print("cold start:", json.dumps(res["cold_start"]))


if __name__ == "__main__":
    main()
