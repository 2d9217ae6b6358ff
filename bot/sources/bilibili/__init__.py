"""A Bilibili live room's chat (`source: {type: bilibili, room_id: ...}`): its settings, its check and
its factory. The connection is in source.py, imported only when this source is chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from bot.component import Findings, SourceComponent, SourceSettings
from bot.config_fields import ConfigPath, check_template
from bot.sources.bilibili.credentials import load_credentials
from bot.sources.login import check_login

if TYPE_CHECKING:
    from bot.protocols import ChatSource


class BilibiliSource(SourceSettings):
    """A Bilibili live room's chat. Login cookies come from BILIBILI_* environment variables or
    `credentials_file` (mode 0600), never from this file."""

    type: Literal["bilibili"]
    room_id: int = Field(gt=0, description="the number in the room's URL, live.bilibili.com/<room_id>")
    credentials_file: ConfigPath | None = None
    super_chats: bool = Field(default=True, description="read Super Chat messages")
    gift_template: str | None = Field(default=None, description="e.g. '谢谢{uname}送的{count}个{gift}'; null = silent")
    gift_min_yuan: float = Field(default=0.0, ge=0, description="thank only for gifts worth this much (free = 0)")
    gift_merge_s: float = Field(default=3.0, gt=0, le=60, description="a combo within this window is one thank-you")
    guard_template: str | None = Field(
        default=None, description="e.g. '感谢{uname}{action}{role}' ({action}: 开通 or 续费); null = silent"
    )
    guard_renew_template: str | None = Field(
        default=None, description="a renewal's own wording, e.g. '感谢{uname}续费{role}'; null = guard_template"
    )
    entry_template: str | None = Field(default=None, description="a viewer entered, e.g. '欢迎{uname}'; null = silent")
    follow_template: str | None = Field(default=None, description="e.g. '感谢{uname}的关注'; null = silent")
    share_template: str | None = Field(default=None, description="e.g. '感谢{uname}分享直播间'; null = silent")
    live_template: str | None = Field(default=None, description="said when the room goes live; null = silent")
    offline_template: str | None = Field(default=None, description="said when the room goes off air; null = silent")
    silent_after_s: float = Field(
        default=70.0, ge=1, le=3600, description="no data (not even a heartbeat reply): reconnect"
    )
    backoff_cap_s: float = Field(default=60.0, ge=1, le=600)
    handoff_size: int = Field(default=1000, ge=1, le=100_000, description="events buffered for the filter")

    @model_validator(mode="after")
    def _templates(self) -> BilibiliSource:
        check_template(self.gift_template, ("uname", "gift", "count", "yuan"), "gift_template")
        check_template(self.guard_template, ("uname", "role", "action"), "guard_template")
        check_template(self.guard_renew_template, ("uname", "role", "action"), "guard_renew_template")
        for key in ("entry_template", "follow_template", "share_template"):
            check_template(getattr(self, key), ("uname",), key)
        for key in ("live_template", "offline_template"):
            check_template(getattr(self, key), (), key)
        return self


def _make(cfg: BilibiliSource) -> ChatSource:
    from bot.sources.bilibili.source import BilibiliChatSource

    return BilibiliChatSource(cfg)


def _check(cfg: BilibiliSource) -> Findings:
    return check_login(
        lambda: load_credentials(cfg.credentials_file),
        "source: no Bilibili login (BILIBILI_SESSDATA): names are masked, muting cannot work",
    )


COMPONENT = SourceComponent(BilibiliSource, make=_make, check=_check)
