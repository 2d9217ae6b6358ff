"""Login cookies: from the environment or a 0600 file, refused when world-readable, never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.sources.bilibili.credentials import load_credentials

SECRET = "SESSDATA-SECRET-0123456789"


def test_environment_first_then_the_private_file(tmp_path: Path) -> None:
    f = tmp_path / "credentials.env"
    f.write_text(f"# comment\nBILIBILI_SESSDATA={SECRET}\nexport BILIBILI_DEDEUSERID='42'\n")
    f.chmod(0o600)
    creds = load_credentials(str(f), environ={"BILIBILI_BUVID3": "B3"})
    assert (creds.sessdata, creds.dedeuserid, creds.buvid3, creds.bili_jct) == (SECRET, "42", "B3", "")
    assert creds.logged_in
    assert SECRET not in repr(creds) and SECRET not in str(creds)
    assert load_credentials(None, environ={}).logged_in is False


def test_a_file_others_can_read_is_refused_without_echoing_it(tmp_path: Path) -> None:
    f = tmp_path / "credentials.env"
    f.write_text(f"BILIBILI_SESSDATA={SECRET}\n")
    f.chmod(0o644)
    with pytest.raises(ConfigError) as err:
        load_credentials(str(f), environ={})
    msg = str(err.value)
    assert "readable by other users" in msg and "chmod 600" in msg and SECRET not in msg
    assert "\n" not in msg


def test_a_missing_or_broken_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_credentials(str(tmp_path / "nope"), environ={})
    f = tmp_path / "c.env"
    f.write_text(f"{SECRET}\n")
    f.chmod(0o600)
    with pytest.raises(ConfigError, match=r"c.env:1: expected KEY=value") as err:
        load_credentials(str(f), environ={})
    assert SECRET not in str(err.value)
