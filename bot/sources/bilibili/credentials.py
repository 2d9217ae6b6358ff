"""Bilibili login cookies, from the environment or a private file — never from config.yaml, never logged.

The file uses the same `KEY=value` lines as systemd's `EnvironmentFile=` (the unit reads
/etc/ishowtts-bot/credentials.env that way), so one file serves both. A file that other users can read
is refused: these cookies are a full login to the streamer's account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.private_file import read_private_env_file

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


def load_credentials(file: str | None, environ: Mapping[str, str] = os.environ) -> BiliCredentials:
    """Environment variables first, then the file (if configured); missing ones stay empty."""
    from_file = read_private_env_file(Path(file), "your Bilibili login") if file else {}
    found = {field: environ.get(env) or from_file.get(env, "") for field, env in ENV_NAMES.items()}
    return BiliCredentials(**found)
