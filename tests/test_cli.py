"""End to end: the real `ishowtts-bot` executable as a subprocess, on the tiny model, on the CPU."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf

from bot.testing.voice_clips import ZH_TEXT

pytestmark = pytest.mark.torch  # the executable on the tiny model

CHAT = [
    ("主播好厉害，这波操作太秀了！", True),
    ("hello everyone, greetings from Berlin", True),
    ("哈", True),
    ("666", True),
    ("🦄🦄🦄", False),
    ("今天的 boss 战太难了 lol", True),
    ("！？。。。", False),
    ("主播今天几点下播呀？", True),
    ("GG", True),
    ("关注了关注了", True),
    ("\u200b\u202e", False),
    ("这首歌叫什么名字", True),
    ("nice play 👍", True),
    ("晚上好", True),
    ("".join(chr(0x4E00 + i * 7919 % 20_000) for i in range(10_000)), True),  # a 10 000-character paste: capped
    ("Is this the real life? Is this just fantasy?", True),
    ("前方高能", True),
    ("ｆｕｌｌ ｗｉｄｔｈ", True),
    ("打卡", True),
    ("再见啦，明天见", True),
]


def bot(
    *args: str, stdin: str | None = None, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
    )


def test_run_replays_chat_into_one_wav_per_speakable_line(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    replay = tmp_path / "chat.jsonl"
    lines = [
        json.dumps({"t": i * 0.01, "uid": 100 + i, "uname": f"u{i}", "text": t}, ensure_ascii=False)
        for i, (t, _) in enumerate(CHAT)
    ]
    replay.write_text("\n".join([*lines[:3], "{not json", *lines[3:]]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    cfg = tiny_config(
        source=f"{{type: replay, path: {replay}, speed: 0}}",
        output=f"{{type: wav, path: {out}}}",
        # no message goes stale however slow a loaded machine synthesises (that drop has its own tests)
        extra="text: {max_chars: 40}\nqueue: {max_size: 100, max_age_s: 3600}\n",
    )
    t0 = time.monotonic()
    proc = bot("run", "-c", str(cfg))
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "chat.jsonl:4: skipped malformed line" in proc.stderr
    files = sorted(out.glob("*.wav"))
    spoken = [t for t, ok in CHAT if ok]
    assert len(files) == len(spoken)
    for path, text in zip(files, spoken, strict=True):
        info = sf.info(str(path))
        assert info.samplerate == 24_000 and info.channels == 1
        chars = min(len(text), 40)
        assert 0.45 <= info.duration <= max(1.2, 0.6 * chars), (text, info.duration)
    long_one = sf.info(str(files[spoken.index(CHAT[14][0])])).duration
    assert 6 < long_one < 25  # 40 CJK characters at the reference's pace, not 10 000
    assert "received 20, spoken 17, failed 0" in proc.stderr
    print(f"e2e run of {len(CHAT)} lines on the CPU: {wall:.1f} s wall")


def test_broken_config_is_one_line_and_nonzero(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    cfg = tiny_config(output="{type: wav}")
    proc = bot("run", "-c", str(cfg))
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: config.yaml: output.path: required key is missing"
    (tmp_path / "bad.yaml").write_text("voices: [\n", encoding="utf-8")
    proc = bot("run", "-c", str(tmp_path / "bad.yaml"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "invalid YAML" in proc.stderr


def test_missing_reference_at_run_time_is_one_line(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    cfg = tiny_config()
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("ref_audio: /", "ref_audio: /nonexistent/"), "utf-8")
    proc = bot("run", "-c", str(cfg))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: voices[0].ref_audio: file not found: /nonexistent/")
    assert "Traceback" not in proc.stderr


def test_say_writes_a_24k_wav(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    out = tmp_path / "hi.wav"
    proc = bot("say", "大家晚上好", "--out", str(out), "-c", str(tiny_config()))
    assert proc.returncode == 0, proc.stderr
    info = sf.info(str(out))
    assert info.samplerate == 24_000 and info.channels == 1 and 0.5 < info.duration < 4
    bad = bot("say", "🎉", "--out", str(out), "-c", str(tiny_config()))
    assert bad.returncode == 1 and bad.stderr.strip().endswith("error: nothing speakable in the text after cleaning")
    unknown = bot("say", "hi", "--voice", "nobody", "-c", str(tiny_config()))
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: unknown voice 'nobody' (configured: zh)"


def test_console_source_reads_stdin(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    out = tmp_path / "all.wav"
    proc = bot(
        "run", "-c", str(tiny_config(output=f"{{type: wav, path: {out}, gap_ms: 100}}")), stdin="第一句\n\n第二句\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "spoken 2" in proc.stderr and sf.info(str(out)).duration > 1.0


def test_check_lists_every_problem(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    good = bot("check", "-c", str(tiny_config()))
    assert good.returncode == 0 and good.stdout.strip().endswith("config.yaml: ok (1 voices)")
    cfg = tiny_config(source="{type: replay, path: missing.jsonl}")
    text = cfg.read_text(encoding="utf-8")
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    text = text.replace("ref_audio: /", f"ref_audio: {tmp_path}/junk.wav #").replace("vocos", "vocoz")
    text = text.replace("source:", "  - id: two\n    ref_audio: nowhere.wav\n    ref_text: hi\nsource:")
    cfg.write_text(text, encoding="utf-8")
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"config.yaml: voices[0].ref_audio: not a readable audio file: {tmp_path}/junk.wav (Format not recognised.)",
        f"config.yaml: voices[1].ref_audio: file not found: {tmp_path}/nowhere.wav",
        f"config.yaml: model.vocoder: file not found: {text.split('vocoder: ')[1].splitlines()[0]}/config.yaml",
        f"config.yaml: model.vocoder: file not found: {text.split('vocoder: ')[1].splitlines()[0]}/pytorch_model.bin",
        f"config.yaml: source.path: file not found: {tmp_path}/missing.jsonl",
    ]


def test_check_matches_checkpoint_against_architecture(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    cfg = tiny_config()
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("architecture: tiny", "architecture: F5TTS_v1_Base"), "utf-8"
    )
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 1
    assert "config.yaml: model.checkpoint: " in proc.stdout and "other shapes than model.architecture" in proc.stdout


def test_tiny_model_and_demo(tmp_path: Path) -> None:
    """The demo also runs beside a daemon (or another test run) that holds the default HTTP port."""
    held = socket.socket()
    with contextlib.suppress(OSError):  # already held by someone else: as good
        held.bind(("127.0.0.1", 8765))
        held.listen()
    proc = bot("tiny-model", str(tmp_path / "tiny"))
    assert proc.returncode == 0 and (tmp_path / "tiny/model.safetensors").is_file()
    assert (tmp_path / "tiny/vocos/config.yaml").is_file() and (tmp_path / "tiny/vocos/pytorch_model.bin").is_file()
    demo = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    held.close()
    assert demo.returncode == 0, demo.stderr
    assert "RANDOM-WEIGHT" in demo.stderr and "status page on http://127.0.0.1:" in demo.stderr
    assert len(list((tmp_path / "demo").glob("*.wav"))) == 6  # 🎉🎉🎉 is said: 庆祝
    assert "in en (" in next(line for line in demo.stderr.splitlines() if "hello from Berlin" in line)


def test_check_reports_a_bad_filter_regex_and_a_corrupt_state_file(
    tmp_path: Path, tiny_config: Callable[..., Path]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text("{half a file", encoding="utf-8")
    cfg = tiny_config(extra=f"state_dir: {state}\n")
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1].startswith(f"config.yaml: state_dir: {state}/state.json is corrupt (")
    assert (state / "state.json").exists()  # check moves nothing
    cfg = tiny_config(extra="text:\n  blocklist:\n    regexes: ['[unclosed']\n")
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: config.yaml: text.blocklist.regexes[0]: bad regular expression '[unclosed': "
        "missing ]: [unclosed (matched in linear time: no backreferences or lookarounds)"
    )


def test_a_mute_survives_a_sigkilled_daemon(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    """A moderator mutes a viewer; the daemon is SIGKILLed; the new one still mutes them."""
    state = tmp_path / "state"
    first = tmp_path / "first.jsonl"
    lines = [
        {"t": 0, "uid": 42, "uname": "捣乱的", "text": "第一条"},
        {"t": 0.05, "uid": 7, "uname": "房管", "role": "moderator", "text": "#tts 禁言 @捣乱的 1h"},
        {"t": 600, "uid": 1, "text": "the replay stays open until it is killed"},
    ]
    first.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    cfg = tiny_config(source=f"{{type: replay, path: {first}}}", extra=f"state_dir: {state}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        audit = state / "audit.jsonl"
        deadline = time.monotonic() + 240
        while not (audit.exists() and audit.read_text(encoding="utf-8").strip()):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the mute was never audited"
            time.sleep(0.1)
    finally:
        proc.kill()  # SIGKILL: no shutdown code runs
        proc.communicate()
    record = json.loads(audit.read_text(encoding="utf-8").splitlines()[-1])
    assert record["ok"] and record["uid"] == 7 and record["verb"] == "mute"

    second = tmp_path / "second.jsonl"
    lines = [{"uid": 42, "uname": "捣乱的", "text": "我回来了"}, {"uid": 43, "uname": "路人", "text": "晚上好"}]
    second.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    cfg = tiny_config(
        source=f"{{type: replay, path: {second}, speed: 0}}",
        output=f"{{type: wav, path: {out}}}",
        extra=f"state_dir: {state}\n",
    )
    done = bot("run", "-c", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "spoken 1," in done.stderr and "muted=1" in done.stderr
    assert len(list(out.glob("*.wav"))) == 1


def test_check_notes_an_anonymous_twitch_source_and_refuses_a_token_without_login(
    tiny_config: Callable[..., Path],
) -> None:
    cfg = tiny_config(source="{type: twitch, channel: somechannel}")
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Twitch read anonymously" in proc.stdout
    proc = bot("check", "-c", str(cfg), env={"TWITCH_OAUTH_TOKEN": "abcdefghijk0123456789"})
    assert proc.returncode == 1 and "TWITCH_LOGIN: set it to the Twitch login name" in proc.stdout
    assert "abcdefghijk0123456789" not in proc.stdout + proc.stderr


def test_check_warns_of_a_transcript_that_does_not_fit_its_clip_and_of_a_cut_clip(
    tiny_config: Callable[..., Path], write_wav: Callable[..., Path]
) -> None:
    from bot.testing.voice_clips import ZH_TEXT

    cfg = tiny_config()
    long_clip = write_wav("long.wav", seconds=15.0)
    second = f"  - {{id: long, ref_audio: {long_clip}, ref_text: {'好' * 50}}}"
    text = cfg.read_text(encoding="utf-8").replace(f"ref_text: {ZH_TEXT}\n", f"ref_text: Hi.\n{second}\n")
    cfg.write_text(text, encoding="utf-8")
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # warnings, not problems
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, proc.stdout
    assert warnings[0] == (
        "warning: config.yaml: voices[0].ref_text (zh): 1 syllables for 6.2 s of audio, 0.16 a second "
        "(speech runs at 1.2-10); is it exactly what the clip says?"
    )
    assert warnings[1].startswith("warning: config.yaml: voices[1].ref_audio (long): the clip is 15.0 s; only ")


def test_start_up_mistakes_are_one_line(tmp_path: Path, tiny_config: Callable[..., Path]) -> None:
    cfg = tiny_config(extra=f"state_dir: {tmp_path / 'state'}\n")
    text = cfg.read_text(encoding="utf-8")
    other = "{dim: 64, depth: 2, heads: 2, dim_head: 32, ff_mult: 4, text_dim: 32, conv_layers: 1}"
    cfg.write_text(text.replace("architecture: tiny", f"architecture: {other}"), "utf-8")
    proc = bot("run", "-c", str(cfg), stdin="")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert "model.checkpoint: does not fit model.architecture: " in line and "other shapes" in line
    cfg.write_text(text, "utf-8")
    token = tmp_path / "state" / "http-token"
    token.unlink(missing_ok=True)  # the first run wrote it (the HTTP side starts before the model loads)
    for make_bad in (lambda: token.mkdir(mode=0o700), lambda: token.write_bytes(b"\xff\xfe token")):
        if token.is_dir():
            token.rmdir()
        make_bad()
        token.chmod(0o700 if token.is_dir() else 0o600)  # private: not the "readable by others" refusal
        proc = bot("run", "-c", str(cfg), stdin="", env={"ISHOWTTS_HTTP_TOKEN": ""})
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert f"error: state_dir: cannot read the HTTP token {token}: " in proc.stderr


def test_check_catches_a_long_transcript_a_text_checkpoint_and_duplicate_keys(
    tmp_path: Path, tiny_config: Callable[..., Path]
) -> None:
    cfg = tiny_config()
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace(f"ref_text: {ZH_TEXT}", "ref_text: " + "好" * 100_000), "utf-8")
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 1 and "voices[0].ref_text: " in proc.stderr, proc.stderr
    fake = tmp_path / "notes.safetensors"
    fake.write_text("just some notes\n", encoding="utf-8")
    cfg.write_text(text.replace(f"{text.split('checkpoint: ')[1].splitlines()[0]}", str(fake)), "utf-8")
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 1 and f"model.checkpoint: {fake} is not a checkpoint" in proc.stdout
    cfg.write_text(text + "output: {type: 'null'}\n", "utf-8")
    proc = bot("check", "-c", str(cfg))
    assert proc.returncode == 1 and "duplicate key 'output'" in proc.stderr
