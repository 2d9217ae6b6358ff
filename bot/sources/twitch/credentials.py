"""A Twitch chat login (OAuth token + the account's login name), from the environment or a private file
— never from config.yaml, never logged. Without one the bot reads anonymously."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError
from bot.private_file import read_private_env_file

TOKEN_ENV, LOGIN_ENV = "TWITCH_OAUTH_TOKEN", "TWITCH_LOGIN"
_LOGIN = re.compile(r"^[a-z0-9_]{2,25}$")
_TOKEN = re.compile(r"^[A-Za-z0-9]{10,200}$")


@dataclass(frozen=True, repr=False)
class TwitchCredentials:
    token: str = ""  # without the "oauth:" prefix
    login: str = ""

    @property
    def logged_in(self) -> bool:
        return bool(self.token)

    def __repr__(self) -> str:
        return f"TwitchCredentials(<{self.login or 'anonymous'}>)"

    __str__ = __repr__


def load_twitch_credentials(file: str | None, environ: Mapping[str, str] = os.environ) -> TwitchCredentials:
    """Environment first, then the file; a token needs its login name (Twitch checks they match)."""
    from_file = read_private_env_file(Path(file), "your Twitch chat token") if file else {}
    token = (environ.get(TOKEN_ENV) or from_file.get(TOKEN_ENV, "")).strip().removeprefix("oauth:")
    login = (environ.get(LOGIN_ENV) or from_file.get(LOGIN_ENV, "")).strip().lower()
    if not token:
        return TwitchCredentials()
    if not _TOKEN.match(token):
        raise ConfigError(f"{TOKEN_ENV}: not a Twitch OAuth token (letters and digits, optionally after 'oauth:')")
    if not _LOGIN.match(login):
        raise ConfigError(f"{LOGIN_ENV}: set it to the Twitch login name the {TOKEN_ENV} belongs to")
    return TwitchCredentials(token=token, login=login)
