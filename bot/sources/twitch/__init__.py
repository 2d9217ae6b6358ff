"""A Twitch channel's chat (`source: {type: twitch, channel: ...}`): its settings, its check and its
factory. The connection is in source.py, imported only when this source is chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from bot.component import Findings, SourceComponent, SourceSettings
from bot.config_fields import ConfigPath, KeyProblem, check_template
from bot.sources.login import check_login
from bot.sources.twitch.credentials import load_twitch_credentials

if TYPE_CHECKING:
    from bot.protocols import ChatSource


class TwitchSource(SourceSettings):
    """A Twitch channel's chat over IRC with TLS. With no token it reads anonymously (as `justinfan<n>`);
    TWITCH_OAUTH_TOKEN and TWITCH_LOGIN, from the environment or `credentials_file` (mode 0600), never
    from this file, let it answer moderator commands in the chat."""

    type: Literal["twitch"]
    channel: str = Field(pattern=r"^#?[A-Za-z0-9_]{2,25}$", description="the name in twitch.tv/<channel>")
    host: str = "irc.chat.twitch.tv"
    port: int = Field(default=6697, ge=1, le=65535, description="TLS")
    credentials_file: ConfigPath | None = None
    replies: bool = Field(default=True, description="answer moderator commands in the chat (needs a token)")
    ping_every_s: float = Field(default=60.0, ge=1, le=600, description="quiet this long: send a PING")
    silent_after_s: float = Field(default=150.0, ge=2, le=3600, description="no data at all: reconnect")
    backoff_cap_s: float = Field(default=60.0, ge=1, le=600)
    handoff_size: int = Field(default=1000, ge=1, le=100_000, description="events buffered for the filter")
    sub_template: str | None = Field(
        default=None, description="e.g. 'Thanks {uname} for the {plan} sub, {months} months!'; null = silent"
    )
    sub_messages: bool = Field(default=True, description="read what a viewer writes with their (re)sub")
    gift_template: str | None = Field(
        default=None, description="gifted subs, e.g. 'Thanks {uname} for {count} gifted subs!'; null = silent"
    )
    raid_template: str | None = Field(
        default=None, description="e.g. 'Welcome, {uname} is raiding with {viewers} viewers!'; null = silent"
    )
    bits_template: str | None = Field(
        default=None, description="a cheer with no words, e.g. 'Thanks {uname} for {bits} bits!'; null = silent"
    )

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        return value.removeprefix("#").lower()

    @model_validator(mode="after")
    def _checks(self) -> TwitchSource:
        if self.silent_after_s <= self.ping_every_s:
            raise KeyProblem("silent_after_s", "must be longer than ping_every_s (a PING must get its chance)")
        check_template(self.sub_template, ("uname", "plan", "months"), "sub_template")
        check_template(self.gift_template, ("uname", "count", "plan"), "gift_template")
        check_template(self.raid_template, ("uname", "viewers"), "raid_template")
        check_template(self.bits_template, ("uname", "bits"), "bits_template")
        return self


def _make(cfg: TwitchSource) -> ChatSource:
    from bot.sources.twitch.source import TwitchChatSource

    return TwitchChatSource(cfg)


def _check(cfg: TwitchSource) -> Findings:
    return check_login(
        lambda: load_twitch_credentials(cfg.credentials_file),
        "source: Twitch read anonymously (no TWITCH_OAUTH_TOKEN): command answers go to the log",
    )


COMPONENT = SourceComponent(TwitchSource, make=_make, check=_check)
