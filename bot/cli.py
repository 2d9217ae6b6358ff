"""`ishowtts-bot`: run the daemon, speak one line, check a config, write the smoke-test model, run the demo.

A user's mistake (bad config, missing file, empty text) ends in one line on stderr and exit status 1;
only a bug shows a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

from bot.errors import UserError

log = logging.getLogger("bot")

DEFAULT_CONFIG = os.environ.get("ISHOWTTS_CONFIG", "config.yaml")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ishowtts-bot", description="Reads a livestream's chat aloud in a cloned voice.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon: chat in, speech out")
    run.add_argument("-c", "--config", default=DEFAULT_CONFIG)

    say = sub.add_parser("say", help="speak one text into a WAV file")
    say.add_argument("text")
    say.add_argument("--voice", default=None, help="voice id (default: the config's default voice)")
    say.add_argument("--out", default="say.wav", help="WAV file to write (default: say.wav)")
    say.add_argument("-c", "--config", default=DEFAULT_CONFIG)

    check = sub.add_parser("check", help="validate the config, voices and model files; one line per problem")
    check.add_argument("-c", "--config", default=DEFAULT_CONFIG)

    tiny = sub.add_parser("tiny-model", help="write a small random-weight F5 checkpoint for smoke tests")
    tiny.add_argument("dir")
    tiny.add_argument("--seed", type=int, default=0)

    sub.add_parser("devices", help="list the audio outputs (for output.device) with their native rates")

    service = sub.add_parser("install-service", help="write the systemd unit for this install")
    service.add_argument("--user", action="store_true", help="a user unit (runs in your session, next to its audio)")
    service.add_argument("-c", "--config", default=None, help="the config the service runs with")
    service.add_argument("--unit", default=None, help="where to write the unit (default: systemd's folder)")

    demo = sub.add_parser("demo", help="read the bundled sample chat (invented) aloud into WAV files (no network)")
    demo.add_argument("--out", default="out", help="folder for the WAV files (default: out)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(_dispatch(args))
    except UserError as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "tiny-model":
        from bot.testing.tiny_model import write_tiny_model

        out = write_tiny_model(args.dir, seed=args.seed)
        print(f"wrote a random-weight smoke-test model to {out} (architecture: tiny)")
        return 0
    if args.command == "demo":
        return _run_daemon(_demo_config(Path(args.out)), None)
    if args.command == "devices":
        return _devices()
    if args.command == "install-service":
        return _install_service(args.user, args.config, args.unit)

    from bot.config import load_config

    cfg = load_config(args.config)
    name = Path(args.config).name
    if args.command == "check":
        return _check(cfg, name)
    if args.command == "say":
        return _say(cfg, args.text, args.voice, Path(args.out))
    return _run_daemon(cfg, Path(args.config))


def _check(cfg: Any, name: str) -> int:
    from bot.check import check_config
    from bot.speech.voices import voice_warnings

    problems, notes = check_config(cfg, name)
    for line in notes:
        print(f"note: {line}")
    for line in voice_warnings(cfg):
        print(f"warning: {name}: {line}")
    for line in problems:
        print(line)
    if not problems:
        print(f"{name}: ok ({len(cfg.voices)} voices)")
    return 1 if problems else 0


def _devices() -> int:
    from bot.sinks.soundcard.output_stream import list_output_devices

    devices = list_output_devices()
    if not devices:
        print("no audio outputs found (is the sound card or audio server there?)")
        return 1
    for dev in devices:
        mark = "*" if dev.is_default else " "
        print(f"{mark} {dev.index:3d}  {dev.name}  ({dev.hostapi}, {dev.channels} ch, {dev.default_rate} Hz)")
    print("* = the default output; put an index or part of a name in config.yaml's output.device")
    return 0


def _say(cfg: Any, text: str, voice: str | None, out: Path) -> int:
    import soundfile as sf

    from bot.engine.chunking import MAX_SYNTH_CHARS
    from bot.engine.synthesizer import F5Synthesizer
    from bot.events import SAMPLE_RATE, ChatEvent, Role, SpeechRequest
    from bot.speech.prepare import SpeechPreparer
    from bot.text import clean_text

    # Said as the daemon would say it: normalised, in the voice for its language unless --voice names one.
    preparer = SpeechPreparer.build(cfg, own_voice=lambda uid: voice is not None)
    text = clean_text(text, MAX_SYNTH_CHARS)  # the operator's line enters speech here (bot/text.py)
    request = SpeechRequest(text, voice or cfg.default_voice_id, ChatEvent(text=text, role=Role.OPERATOR))
    prepared = preparer.prepare(request).request
    voice_id = prepared.voice
    # One utterance: capturing a graph and compiling would cost seconds to save milliseconds.
    one_shot = cfg.engine.model_copy(update={"cuda_graphs": False, "compile": False})
    synth = F5Synthesizer(cfg.model, [cfg.voice(voice_id)], one_shot)
    pcm = synth.synthesize(prepared.text, voice_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, pcm, SAMPLE_RATE, subtype="PCM_16")
    print(f"wrote {out} ({len(pcm) / SAMPLE_RATE:.2f} s, voice {voice_id})")
    return 0


def _install_service(user: bool, config: str | None, unit: str | None) -> int:
    from bot.service_unit import render, this_install_exec, unit_path

    path = Path(unit) if unit else unit_path(user)
    config_arg = str(Path(config).resolve()) if config else None
    text = render(user, this_install_exec(), config_arg)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        hint = " (run it with sudo, or use --user)" if not user else ""
        raise UserError(f"cannot write {path}: {err.strerror or err}{hint}") from None
    ctl = "systemctl --user" if user else "sudo systemctl"
    where = config_arg or ("~/.config/ishowtts-bot/config.yaml" if user else "/etc/ishowtts-bot/config.yaml")
    print(f"wrote {path}")
    print(f"config: {where}" + ("" if config_arg else " (copy yours there)"))
    print("enable it with:")
    print(f"  {ctl} daemon-reload")
    print(f"  {ctl} enable --now ishowtts-bot")
    return 0


def _run_daemon(cfg: Any, config_path: Path | None) -> int:
    from bot.engine.synthesizer import F5Synthesizer
    from bot.http_api import HttpApi
    from bot.pipeline import Daemon
    from bot.sinks import make_sink
    from bot.sources import make_source

    async def main() -> tuple[int, bool]:
        daemon = Daemon(
            cfg,
            make_source(cfg.source),
            lambda: F5Synthesizer(cfg.model, cfg.voices, cfg.engine, cfg.text.max_audio_s),
            make_sink(cfg.output, stale_after_s=cfg.queue.max_age_s),
            config_path=config_path,
        )
        api = HttpApi(daemon, cfg.http) if cfg.http.enabled else None
        if api is not None:
            await api.start()
        try:
            return await daemon.run(), daemon.worker.running
        finally:
            if api is not None:
                await api.stop()

    code, worker_running = asyncio.run(main())
    if worker_running:
        # The GPU thread is still inside a synthesis (or a hung CUDA call) that shutdown gave up on. The
        # interpreter's finalisation would wait for it or abort in torch's thread pools ("terminate called
        # without an active exception"); the state is saved and the summary logged, so leave at once.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    return code


def _demo_config(out: Path) -> Any:
    """The bundled demo config, with the real weights if cached, else the smoke-test model (said loudly)."""
    import yaml

    from bot.config import ModelConfig, parse_config

    demo_dir = Path(str(files("bot").joinpath("demo")))
    data = yaml.safe_load((demo_dir / "demo.yaml").read_text(encoding="utf-8"))
    data["output"]["path"] = str(out.resolve())
    data["state_dir"] = str(out.resolve() / "state")  # a demo never touches the streamer's mutes
    real = _cached_real_weights(ModelConfig())
    if real is not None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        data["model"] = real
        log.info("demo: using the real F5TTS_v1_Base weights found in the Hugging Face cache")
    else:
        tiny_dir = out.resolve() / "tiny-model"
        if not (tiny_dir / "model.safetensors").is_file():
            from bot.testing.tiny_model import write_tiny_model

            write_tiny_model(tiny_dir)
        data["model"] = {
            "checkpoint": str(tiny_dir / "model.safetensors"),
            "vocab": str(tiny_dir / "vocab.txt"),
            "vocoder": str(tiny_dir / "vocos"),
            "architecture": "tiny",
            "seed": 0,
        }
        banner = "!" * 78
        log.warning("%s", banner)
        log.warning("demo: the real F5TTS_v1_Base weights are not downloaded, so this demo uses a RANDOM-WEIGHT")
        log.warning("demo: smoke-test model: the pipeline runs end to end but the 'speech' is noise.")
        log.warning("demo: for real speech, download the weights (README: 'Model weights') and rerun.")
        log.warning("%s", banner)
    return parse_config(data, demo_dir / "demo.yaml")


def _cached_real_weights(default: Any) -> dict[str, Any] | None:
    """The default hub model's files, if every one is already in the local hub cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    wanted = [default.checkpoint, default.vocab]
    found = []
    for spec in wanted:
        owner, repo, path = spec.removeprefix("hf://").split("/", 2)
        hit = try_to_load_from_cache(f"{owner}/{repo}", path)
        if not isinstance(hit, str):
            return None
        found.append(hit)
    for fname in ("config.yaml", "pytorch_model.bin"):
        if not isinstance(try_to_load_from_cache(default.vocoder.removeprefix("hf://"), fname), str):
            return None
    return {"checkpoint": found[0], "vocab": found[1], "vocoder": default.vocoder, "architecture": "F5TTS_v1_Base"}
