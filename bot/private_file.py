"""A private `KEY=value` file (the format of systemd's `EnvironmentFile=`) holding login secrets.

One format for every platform's credentials, so the unit's /etc/ishowtts-bot/credentials.env serves the
bot and systemd alike. A file that other users can read is refused: it holds a login.
"""

from __future__ import annotations

import stat
from pathlib import Path

from bot.errors import ConfigError


def refuse_if_shared(path: Path, key: str, holds: str) -> None:
    """A one-line error if `path` exists and other users (group or others) may read or write it, as ssh
    does for a key: what it holds would be theirs too."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if mode & 0o077:
        raise ConfigError(
            f"{key}: {path} is readable by other users (mode {stat.filemode(mode)}); it holds {holds}: chmod 600 {path}"
        )


def read_private_env_file(path: Path, holds: str) -> dict[str, str]:
    """KEY=value pairs of `path` (blank lines, comments and `export ` allowed); `holds` names the
    secret in the error a readable file gets ("your Bilibili login")."""
    if not path.exists():
        raise ConfigError(f"source.credentials_file: file not found: {path}")
    refuse_if_shared(path, "source.credentials_file", holds)
    values: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"source.credentials_file: {path}:{lineno}: expected KEY=value")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("\"'")
    return values
