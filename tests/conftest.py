"""Shared fixtures: the tiny random-weight model (written once per session) and config writers.

Only the fixtures that need torch import it, when used: the pure run (tests/pure_run.py) collects this
file without torch."""

from __future__ import annotations

import asyncio
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soundfile as sf

from bot.config import load_config
from bot.testing.voice_clips import ZH_REF, ZH_TEXT, speechlike

if TYPE_CHECKING:
    from bot.engine.synthesizer import F5Synthesizer

pytest_plugins = ["tests.pure_run", "pytester"]


ASYNC_TEST_LIMIT_S = 300.0


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on a fresh event loop (no plugin needed for that), each bounded by
    ASYNC_TEST_LIMIT_S: a test whose loop waits on nothing fails with the stack it hung in instead of
    holding CI until its limit (once seen, not reproduced, in a Twitch source test under load)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**args), ASYNC_TEST_LIMIT_S))
        return True
    return None


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every daemon it starts) keeps its mutes and audit log in a fresh folder, never in
    the user's ~/.local/state."""
    folder = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    return folder / "ishowtts-bot"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bot.testing.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny"))


def make_tiny_synthesizer(folder: Path, tiny_model: Path) -> F5Synthesizer:
    """An engine on the tiny model, on the CPU, seeded, with the bundled Chinese voice as `zh`."""
    cfg = folder / "config.yaml"
    cfg.write_text(
        f"model: {{checkpoint: {tiny_model}/model.safetensors, vocab: {tiny_model}/vocab.txt, "
        f"vocoder: {tiny_model}/vocos, architecture: tiny, device: cpu, seed: 0}}\n"
        f"voices: [{{id: zh, ref_audio: {ZH_REF}, ref_text: {ZH_TEXT}}}]\n"
        "source: {type: console}\noutput: {type: null}\n",
        encoding="utf-8",
    )
    from bot.engine.synthesizer import F5Synthesizer

    c = load_config(cfg)
    return F5Synthesizer(c.model, c.voices)


@pytest.fixture
def write_wav(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, seconds: float = 3.0, rate: int = 24_000, channels: int = 1) -> Path:
        pcm = speechlike(seconds, rate)
        data = np.stack([pcm] * channels, axis=1) if channels > 1 else pcm
        path = tmp_path / name
        sf.write(path, data, rate)
        return path

    return write


@pytest.fixture
def tiny_config(tmp_path: Path, tiny_model: Path) -> Callable[..., Path]:
    """Write a config.yaml for the tiny model; `extra` YAML is appended, `source`/`output` replaceable."""

    def write(
        source: str = "{type: console}", output: str = "{type: 'null'}", extra: str = "", seed: int | None = 0
    ) -> Path:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            textwrap.dedent(f"""\
            model:
              checkpoint: {tiny_model}/model.safetensors
              vocab: {tiny_model}/vocab.txt
              vocoder: {tiny_model}/vocos
              architecture: tiny
              device: cpu
              seed: {"null" if seed is None else seed}
            voices:
              - id: zh
                ref_audio: {ZH_REF}
                ref_text: {ZH_TEXT}
            source: {source}
            output: {output}
            http: {{port: 0}}
            """)
            + extra,
            encoding="utf-8",
        )
        return cfg

    return write
