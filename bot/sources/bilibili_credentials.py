"""Bilibili login cookies, from the environment or a private file — never from config.yaml, never logged.

The file uses the same `KEY=value` lines as systemd's `EnvironmentFile=` (the unit reads
/etc/ishowtts-bot/credentials.env that way), so one file serves both. A file that other users can read
is refused: these cookies are a full login to the streamer's account.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError

ENV_NAMES = {
    "sessdata": "BILIBILI_SESSDATA",
    "bili_jct": "BILIBILI_BILI_JCT",
    "buvid3": "BILIBILI_BUVID3",
    "dedeuserid": "BILIBILI_DEDEUSERID",
}


@dataclass(frozen=True, repr=False)
class BiliCredentials:
    sessdata: str = ""
    bili_jct: str = ""
    buvid3: str = ""
    dedeuserid: str = ""

    @property
    def logged_in(self) -> bool:
        return bool(self.sessdata)

    def __repr__(self) -> str:
        present = [k for k in ENV_NAMES if getattr(self, k)]
        return f"BiliCredentials(<{', '.join(present) or 'anonymous'}>)"

    __str__ = __repr__

    def secrets(self) -> list[str]:
        """The values, for tests and log scrubbing."""
        return [v for v in (self.sessdata, self.bili_jct, self.buvid3, self.dedeuserid) if v]


def _read_private_file(path: Path) -> dict[str, str]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"source.credentials_file: file not found: {path}") from None
    if st.st_mode & 0o077:
        raise ConfigError(
            f"source.credentials_file: {path} is readable by other users (mode {stat.filemode(st.st_mode)}); "
            f"it holds your Bilibili login: chmod 600 {path}"
        )
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


def load_credentials(file: str | None, environ: Mapping[str, str] = os.environ) -> BiliCredentials:
    """Environment variables first, then the file (if configured); missing ones stay empty."""
    from_file = _read_private_file(Path(file)) if file else {}
    found = {field: environ.get(env) or from_file.get(env, "") for field, env in ENV_NAMES.items()}
    return BiliCredentials(**found)
