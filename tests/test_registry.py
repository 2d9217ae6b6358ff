"""Each source and output type owns its settings, its check and its factory; the registry lists them by
type name, and the central config, `check` and the daemon's wiring go through it for every type alike."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import bot
from bot.config import parse_config
from bot.errors import ConfigError
from bot.registry import OUTPUTS, SOURCES
from bot.sinks import make_sink
from bot.sinks.null.sink import NullSink
from bot.sinks.soundcard.sink import SoundCardSink
from bot.sinks.wav.sink import WavSink
from bot.sources import make_source
from bot.sources.console.source import ConsoleChatSource
from bot.sources.replay.source import ReplayChatSource

EVERY_TYPE = [("source", name) for name in SOURCES.names] + [("output", name) for name in OUTPUTS.names]


def error_lines(tmp_path: Path, **slots: dict[str, Any]) -> list[str]:
    data = {
        "voices": [{"id": "zh", "ref_audio": "a.wav", "ref_text": "你好"}],
        "source": {"type": "console"},
        "output": {"type": "null"},
        **slots,
    }
    with pytest.raises(ConfigError) as err:
        parse_config(data, tmp_path / "config.yaml")
    return str(err.value).splitlines()


@pytest.mark.parametrize(("slot", "name"), EVERY_TYPE)
def test_an_error_in_any_type_is_reported_under_its_slot_not_its_type(tmp_path: Path, slot: str, name: str) -> None:
    lines = error_lines(tmp_path, **{slot: {"type": name, "no_such_key": 1}})
    assert f"config.yaml: {slot}.no_such_key: unknown key" in lines
    assert not [line for line in lines if f"{slot}.{name}" in line], lines


def test_a_bad_twitch_channel_reads_like_a_bad_bilibili_room(tmp_path: Path) -> None:
    assert error_lines(tmp_path, source={"type": "twitch", "channel": "two words"}) == [
        "config.yaml: source.channel: String should match pattern '^#?[A-Za-z0-9_]{2,25}$'"
    ]
    assert error_lines(tmp_path, source={"type": "bilibili", "room_id": 0}) == [
        "config.yaml: source.room_id: Input should be greater than 0"
    ]


def test_an_unknown_type_lists_the_registered_ones(tmp_path: Path) -> None:
    assert error_lines(tmp_path, output={"type": "speakers"}) == [
        f"config.yaml: output.type: unknown type 'speakers' (known: {', '.join(OUTPUTS.names)})"
    ]


def test_the_factories_build_the_configured_type(tmp_path: Path) -> None:
    (tmp_path / "chat.jsonl").write_text('"hi"\n', encoding="utf-8")
    cfg = parse_config(
        {
            "voices": [{"id": "zh", "ref_audio": "a.wav", "ref_text": "你好"}],
            "source": {"type": "replay", "path": "chat.jsonl"},
            "output": {"type": "wav", "path": "out"},
        },
        tmp_path / "config.yaml",
    )
    assert isinstance(make_source(cfg.source), ReplayChatSource)
    assert isinstance(make_sink(cfg.output), WavSink)
    assert isinstance(make_source(SOURCES["console"].settings(type="console")), ConsoleChatSource)
    assert isinstance(make_sink(OUTPUTS["null"].settings(type="null")), NullSink)
    assert isinstance(make_sink(OUTPUTS["null"].settings(type="null", realtime=True)), SoundCardSink)


def test_each_type_checks_its_own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("BILIBILI_SESSDATA", "TWITCH_OAUTH_TOKEN", "TWITCH_LOGIN"):
        monkeypatch.delenv(env, raising=False)
    missing = tmp_path / "missing.jsonl"
    replay = SOURCES["replay"]
    assert replay.check(replay.settings(type="replay", path=str(missing))).problems == [
        f"source.path: file not found: {missing}"
    ]
    bilibili = SOURCES["bilibili"].check(SOURCES["bilibili"].settings(type="bilibili", room_id=1))
    assert bilibili.problems == [] and bilibili.notes == [
        "source: no Bilibili login (BILIBILI_SESSDATA): names are masked, muting cannot work"
    ]
    monkeypatch.setenv("TWITCH_OAUTH_TOKEN", "not a token!")
    twitch = SOURCES["twitch"].check(SOURCES["twitch"].settings(type="twitch", channel="dallas"))
    assert [p.split(":")[0] for p in twitch.problems] == ["TWITCH_OAUTH_TOKEN"] and twitch.notes == []
    for component, settings in (
        (SOURCES["console"], {"type": "console"}),
        (OUTPUTS["wav"], {"type": "wav", "path": str(tmp_path)}),
        (OUTPUTS["null"], {"type": "null"}),
    ):
        findings = component.check(component.settings.model_validate(settings))
        assert (findings.problems, findings.notes) == ([], []), component.name


CENTRAL = [p for p in Path(bot.__file__).parent.glob("*.py") if p.name not in ("registry.py", "component.py")]
"""The modules outside the packages, but for the registry itself (component.py knows YAML spells None "null")."""


@pytest.mark.parametrize("module", CENTRAL, ids=lambda p: p.name)
def test_no_central_module_names_a_source_or_output_type(module: Path) -> None:
    """Adding a platform touches its own package and the registry only: nothing else picks by type name."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    names = set(SOURCES.names) | set(OUTPUTS.names)
    named = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in names
    ]
    assert not named, f"{module.name} names {named}: let the type's own package decide"
