"""Bilibili's own settings (bot/sources/bilibili/__init__.py): each mistake is one line under `source.`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import parse_config
from bot.errors import ConfigError


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "bilibili", "room_id": 0}, "config.yaml: source.room_id: Input should be greater than 0"),
        (
            {"type": "bilibili", "room_id": 1, "gift_template": "{who}"},
            "config.yaml: source.gift_template: unknown placeholder {who} (known: {uname}, {gift}, {count}, {yuan})",
        ),
        ({"type": "bilibili", "room_id": 1, "sessdata": "x"}, "config.yaml: source.sessdata: unknown key"),
        (
            {"type": "bilibili", "room_id": 1, "guard_renew_template": "{months}"},
            "config.yaml: source.guard_renew_template: unknown placeholder {months} (known: {uname}, {role}, {action})",
        ),
    ],
)
def test_bad_bilibili_settings_are_one_line(tmp_path: Path, source: dict[str, object], message: str) -> None:
    data = {
        "voices": [{"id": "zh", "ref_audio": "a.wav", "ref_text": "你好"}],
        "source": source,
        "output": {"type": "null"},
    }
    with pytest.raises(ConfigError) as err:
        parse_config(data, tmp_path / "config.yaml")
    assert str(err.value).startswith(message)
