"""Bilibili live-room commands (the `cmd` objects of the websocket protocol) to typed ChatEvents.

Pure functions, no I/O: everything the live server sends passes through `map_command`, so it must be
cheap for the ~150 kinds we ignore and must never raise — malformed or unexpected shapes return None
(and are counted by the caller). Field positions of DANMU_MSG's `info` array follow the web client:
info[0] meta (mode, dm_type, emoticon, extra JSON), info[1] text, info[2] user [uid, name, is_admin, ...],
info[3] fan medal [level, name, anchor name, room id, ..., anchor uid at 12], info[7] guard level.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from bot.events import ChatEvent, EventKind, Role

log = logging.getLogger(__name__)

SPEECH_MODES = frozenset({1, 4, 5})
"""Scrolling, bottom and top danmaku. Mode 7 ("advanced") carries a JSON positioning array, not speech."""
GOLD_PER_YUAN = 1000
"""Paid gifts are priced in gold coins; 1000 = ¥1. Silver-coin gifts are free."""
GUARD_NAMES = {1: "总督", 2: "提督", 3: "舰长"}


@dataclass
class Notice:
    """A non-chat command worth a log line or a state change (live/preparing, warnings, login notice)."""

    kind: str
    message: str = ""


@dataclass
class GiftTally:
    """One viewer's gifts of one kind, merged over a short window (a 50-gift combo is one thank-you)."""

    uid: int
    uname: str
    gift: str
    count: int = 0
    yuan: float = 0.0
    guard_level: int = 0
    last_at: float = field(default_factory=time.monotonic)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def command_name(cmd: dict[str, Any]) -> str:
    """`DANMU_MSG:4:0:2:2:2:0` and friends are DANMU_MSG; anything else as sent."""
    name = _str(cmd.get("cmd"))
    return name.split(":", 1)[0]


_EMOT = re.compile(r"\[[^\[\]]{1,12}\]")


def _danmaku(cmd: dict[str, Any], owner_uid: int) -> ChatEvent | None:
    info = cmd.get("info")
    if not isinstance(info, list) or len(info) < 3:
        return None
    meta = info[0] if isinstance(info[0], list) else []
    text = _str(info[1])
    user = info[2] if isinstance(info[2], list) else []
    mode = _int(meta[1], 1) if len(meta) > 1 else 1
    dm_type = _int(meta[12]) if len(meta) > 12 else 0
    extra: dict[str, Any] = {}
    if len(meta) > 15 and isinstance(meta[15], dict) and isinstance(meta[15].get("extra"), str):
        try:
            parsed = json.loads(meta[15]["extra"])
            extra = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            extra = {}
    if mode not in SPEECH_MODES or dm_type != 0 or not text:
        return None  # advanced (positioned JSON) danmaku, stickers/emoticon-only messages
    emots = extra.get("emots")
    if isinstance(emots, dict) and emots:
        text = _EMOT.sub(lambda m: "" if m.group(0) in emots else m.group(0), text).strip()
        if not text:
            return None
    uid = _int(user[0]) if user else 0
    uname = _str(user[1]) if len(user) > 1 else ""
    is_admin = bool(_int(user[2])) if len(user) > 2 else False
    medal = info[3] if len(info) > 3 and isinstance(info[3], list) else []
    guard = _int(info[7]) if len(info) > 7 else 0
    role = Role.VIEWER
    if owner_uid and uid == owner_uid:
        role = Role.STREAMER
    elif is_admin:
        role = Role.MODERATOR
    return ChatEvent(
        text=text,
        uid=uid,
        uname=uname,
        kind=EventKind.DANMAKU,
        msg_id=_str(extra.get("id_str")),
        guard_level=guard,
        role=role,
        medal_level=_int(medal[0]) if medal else 0,
        medal_name=_str(medal[1]) if len(medal) > 1 else "",
        medal_room=_int(medal[3]) if len(medal) > 3 else 0,
        home_medal=bool(owner_uid) and len(medal) > 12 and _int(medal[12]) == owner_uid,
        reply_to=_str(extra.get("reply_uname")),
    )


def _super_chat(data: dict[str, Any]) -> ChatEvent | None:
    text = _str(data.get("message"))
    if not text:
        return None
    user = data.get("user_info") if isinstance(data.get("user_info"), dict) else {}
    assert isinstance(user, dict)
    return ChatEvent(
        text=text,
        uid=_int(data.get("uid")),
        uname=_str(user.get("uname")),
        kind=EventKind.SUPER_CHAT,
        msg_id=str(_int(data.get("id"))) if data.get("id") is not None else "",
        guard_level=_int(user.get("guard_level")),
        price=float(_int(data.get("price"))),
    )


def _gift(name: str, data: dict[str, Any]) -> GiftTally | None:
    uid = _int(data.get("uid"))
    if name == "SEND_GIFT":
        gift = _str(data.get("giftName"))
        count = _int(data.get("num"), 1)
        paid = _str(data.get("coin_type")) == "gold"
        yuan = _int(data.get("total_coin")) / GOLD_PER_YUAN if paid else 0.0
    else:  # COMBO_SEND: a running total for a combo we also see gift by gift; counted by SEND_GIFT only
        return None
    if not gift or count <= 0:
        return None
    return GiftTally(uid, _str(data.get("uname")), gift, count, yuan, _int(data.get("guard_level")))


def _guard(name: str, data: dict[str, Any]) -> ChatEvent | None:
    level = _int(data.get("guard_level"))
    uname = _str(data.get("username"))
    role = _str(data.get("role_name")) or GUARD_NAMES.get(level, "")
    if not uname or not role:
        return None
    price = _int(data.get("price")) / GOLD_PER_YUAN
    return ChatEvent(
        text=role, uid=_int(data.get("uid")), uname=uname, kind=EventKind.GUARD, guard_level=level, price=price
    )


def map_command(cmd: Any, owner_uid: int = 0) -> ChatEvent | GiftTally | Notice | None:
    """One websocket command to what the bot cares about, or None to ignore it."""
    if not isinstance(cmd, dict):
        return None
    name = command_name(cmd)
    data = cmd.get("data") if isinstance(cmd.get("data"), dict) else {}
    assert isinstance(data, dict)
    if name == "DANMU_MSG":
        return _danmaku(cmd, owner_uid)
    if name in ("SUPER_CHAT_MESSAGE", "SUPER_CHAT_MESSAGE_JPN"):
        return _super_chat(data)
    if name in ("SEND_GIFT", "COMBO_SEND"):
        return _gift(name, data)
    if name == "USER_TOAST_MSG":  # GUARD_BUY is sent too for the same purchase: one of them is enough
        return _guard(name, data)
    if name == "ROOM_BLOCK_MSG":
        uid = _int(data.get("uid", cmd.get("uid")))
        uname = _str(data.get("uname", cmd.get("uname")))
        return ChatEvent(text="", uid=uid, uname=uname, kind=EventKind.BAN) if uid else None
    if name == "RECALL_DANMU_MSG":
        target = data.get("target_id")
        return ChatEvent(text="", kind=EventKind.RECALL, msg_id=str(target)) if target else None
    if name in ("LIVE", "PREPARING"):
        return Notice(name)
    if name in ("WARNING", "CUT_OFF", "CUT_OFF_V2"):
        return Notice(name, _str(cmd.get("msg")) or _str(data.get("msg")))
    if name == "LOG_IN_NOTICE":
        return Notice(name, _str(data.get("notice_msg")))
    return None


class GiftMerger:
    """Adds up gifts per (viewer, gift) until `window_s` passes without another, then hands back one
    tally. Bounded: at most `max_open` tallies are open at once (the oldest is flushed early)."""

    def __init__(self, window_s: float, max_open: int = 1000) -> None:
        self.window_s = window_s
        self.max_open = max_open
        self._open: dict[tuple[int, str, str], GiftTally] = {}

    def add(self, tally: GiftTally, now: float | None = None) -> list[GiftTally]:
        now = time.monotonic() if now is None else now
        key = (tally.uid, tally.uname, tally.gift)
        current = self._open.get(key)
        if current is None:
            tally.last_at = now
            self._open[key] = tally
        else:
            current.count += tally.count
            current.yuan += tally.yuan
            current.last_at = now
        flushed = []
        while len(self._open) > self.max_open:
            oldest = next(iter(self._open))
            flushed.append(self._open.pop(oldest))
        return flushed

    def due(self, now: float | None = None) -> list[GiftTally]:
        now = time.monotonic() if now is None else now
        ready = [k for k, t in self._open.items() if now - t.last_at >= self.window_s]
        return [self._open.pop(k) for k in ready]
