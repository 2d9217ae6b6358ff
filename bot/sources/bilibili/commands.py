"""Bilibili live-room commands (the `cmd` objects of the websocket protocol) to typed ChatEvents.

Pure functions, no I/O: everything the live server sends passes through `map_command`, so it must be
cheap for the ~150 kinds we ignore and must never raise — malformed or unexpected shapes return None or
a Skipped with the reason (counted by the caller). Field positions of DANMU_MSG's `info` array follow the web client:
info[0] meta (mode, dmid at 5, danmaku type at 9, dm_type at 12, emoticon, extra JSON), info[1] text,
info[2] user [uid, name, is_admin, ...], info[3] fan medal [level, name, anchor name, room id, ..., anchor uid
at 12], info[7] guard level.

Which id a withdrawal names (from sjh8130/bili_danmaku's protocol notebook `Testing.md` at 099c31f, the
enum copied from the web client): RECALL_DANMU_MSG's `recall_type` is 1 = one danmaku, 2 = a user's
danmaku, 3 = all danmaku. For type 1, `target_id` is a number, and the only numeric danmaku id a DANMU_MSG
carries is info[0][5] ("dmid/rnd", a 64-bit id in current captures; 0 for lottery danmaku); extra.id_str
is hex and never matches. No public capture pairs a type-1 recall with its danmaku, so that match rests on
the notebook's naming; type 2 (the masked captures' kind: target_id shaped like a uid, the notebook's
"临时封禁(mid)") withdraws that viewer's waiting danmaku, which needs no id at all.

Room admins (房管) are known from each danmaku, so no admin list is fetched: info[2][2] is 1 when the sender
is one (xfgryujk/blivedm reads it the same way, `admin=info[2][2]`, "是否房管", in `blivedm/models/web.py` at
3bf17fe862b8c2fc6bc04c81c3f0c5db95de93d6; the notebook's captures carry it), set by the server on each
danmaku; the commands that announce the list's changes (`room_admin_entrance`, `ROOM_ADMIN_REVOKE`,
`ROOM_ADMINS` in the notebook) are therefore ignored. Read anonymously the flag still comes, but with the
uid masked to 0, and a command from uid 0 is refused (bot/moderation.py): room admins moderate by chat
only when the bot is logged in.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.events import ChatEvent, EventKind, Role
from bot.sources.bilibili.protobuf import BadPayload, decode_interact_word_v2, decode_send_gift_v2

log = logging.getLogger(__name__)

SPEECH_MODES = frozenset({1, 4, 5})
"""Scrolling, bottom and top danmaku. Mode 7 ("advanced") carries a JSON positioning array, not speech."""
GOLD_PER_YUAN = 1000
"""Paid gifts are priced in gold coins; 1000 = ¥1. Silver-coin gifts are free."""
GUARD_NAMES = {1: "总督", 2: "提督", 3: "舰长"}
RENEWAL_OP_TYPES = frozenset({2, 3})
"""USER_TOAST_MSG(_V2)'s `op_type`: 1 = a new purchase, 2 = a renewal, 3 = an automatic renewal."""
RECALL_ONE, RECALL_USER, RECALL_ALL = 1, 2, 3


@dataclass(frozen=True)
class Skipped:
    """A command deliberately not spoken, and why (counted by the source)."""

    reason: str


InteractionKind = Literal["entry", "follow", "share"]
INTERACTIONS: dict[int, InteractionKind] = {1: "entry", 2: "follow", 3: "share", 4: "follow", 5: "follow"}
"""INTERACT_WORD's `msg_type`: entered, followed, shared, followed specially, followed back."""


@dataclass(frozen=True)
class Interaction:
    """A viewer entered the room, followed it or shared it (spoken only with the streamer's template)."""

    what: InteractionKind
    uid: int
    uname: str


@dataclass(frozen=True)
class GuardPurchase:
    """A guard (舰长/提督/总督) bought or renewed. Bilibili announces one purchase up to three times
    (GUARD_BUY, USER_TOAST_MSG, USER_TOAST_MSG_V2): `key` is the same for all of them."""

    uid: int
    uname: str
    level: int
    role: str
    price: float
    renewal: bool | None
    """None: this copy does not say (GUARD_BUY); a toast copy does."""

    start_time: int = 0
    """When the guard starts (unix seconds): the same in every copy, different for a later purchase."""

    @property
    def key(self) -> str:
        return f"guard:{self.uid}:{self.level}:{self.start_time}"


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
    tid: str = ""
    """The transaction id, the same in a gift's SEND_GIFT and SEND_GIFT_V2 copies ("" = unknown)."""
    last_at: float = field(default_factory=time.monotonic)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON 1e400 is float("inf")
        return default


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def command_name(cmd: dict[str, Any]) -> str:
    """`DANMU_MSG:4:0:2:2:2:0` and friends are DANMU_MSG; anything else as sent."""
    name = _str(cmd.get("cmd"))
    return name.split(":", 1)[0]


_EMOT = re.compile(r"\[[^\[\]]{1,12}\]")


def _danmaku(cmd: dict[str, Any], owner_uid: int) -> ChatEvent | Skipped | None:
    info = cmd.get("info")
    if not isinstance(info, list) or len(info) < 3:
        return None
    meta = info[0] if isinstance(info[0], list) else []
    text = _str(info[1])
    user = info[2] if isinstance(info[2], list) else []
    mode = _int(meta[1], 1) if len(meta) > 1 else 1
    dm_type = _int(meta[12]) if len(meta) > 12 else 0
    if len(meta) > 9 and _int(meta[9]) != 0:
        return Skipped("lottery")  # sent by the client for a 天选/节奏风暴/game entrant, not typed by them
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
    dmid = _int(meta[5]) if len(meta) > 5 else 0  # what a one-danmaku recall names (module docstring)
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
        msg_id=str(dmid) if dmid else _str(extra.get("id_str")),
        guard_level=guard,
        role=role,
        medal_level=_int(medal[0]) if medal else 0,
        medal_name=_str(medal[1]) if len(medal) > 1 else "",
        medal_room=_int(medal[3]) if len(medal) > 3 else 0,
        home_medal=bool(owner_uid) and len(medal) > 12 and _int(medal[12]) == owner_uid,
        reply_to=_str(extra.get("reply_uname")),
    )


def super_chat_id(value: Any) -> str:
    """A super chat's id as its withdrawal and its JPN twin name it (a number there, a string here)."""
    number = _int(value)
    return f"sc:{number}" if number > 0 else ""


def _super_chat(data: dict[str, Any]) -> ChatEvent | None:
    """SUPER_CHAT_MESSAGE and its translated twin SUPER_CHAT_MESSAGE_JPN map alike (same id, same original
    `message`), so whichever comes first is read and the source drops the other by id."""
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
        msg_id=super_chat_id(data.get("id")),
        guard_level=_int(user.get("guard_level")),
        price=float(_int(data.get("price"))),
    )


def _super_chat_deleted(data: dict[str, Any]) -> list[ChatEvent]:
    ids = data.get("ids")
    if not isinstance(ids, list):
        return []
    return [ChatEvent(text="", kind=EventKind.RECALL, msg_id=sc) for value in ids[:100] if (sc := super_chat_id(value))]


def _gift(data: dict[str, Any]) -> GiftTally | None:
    """SEND_GIFT. (COMBO_SEND is a running total of a combo we also see gift by gift: not counted.)"""
    gift = _str(data.get("giftName"))
    count = _int(data.get("num"), 1)
    if not gift or count <= 0:
        return None
    paid = _str(data.get("coin_type")) == "gold"
    yuan = _int(data.get("total_coin")) / GOLD_PER_YUAN if paid else 0.0
    tid = _str(data.get("tid")) or _str(data.get("rnd"))
    uid, uname, guard = _int(data.get("uid")), _str(data.get("uname")), _int(data.get("guard_level"))
    return GiftTally(uid, uname, gift, count, yuan, guard, tid)


def _gift_v2(data: dict[str, Any]) -> list[GiftTally] | Skipped:
    """SEND_GIFT_V2: the same gift as protobuf; one tally per gift in its list."""
    try:
        broadcast = decode_send_gift_v2(data)
    except BadPayload:
        return Skipped("bad_gift_v2")
    tallies = [
        GiftTally(
            broadcast.uid,
            broadcast.uname,
            g.gift_name,
            g.num,
            g.total_coin / GOLD_PER_YUAN if g.coin_type == "gold" else 0.0,
            broadcast.guard_level,
            g.tid,
        )
        for g in broadcast.gifts
        if g.gift_name and g.num > 0 and g.total_coin >= 0
    ]
    return tallies or Skipped("bad_gift_v2")


def _dict(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _guard(name: str, data: dict[str, Any]) -> GuardPurchase | None:
    """GUARD_BUY, USER_TOAST_MSG or USER_TOAST_MSG_V2 (the same facts, nested differently)."""
    if name == "USER_TOAST_MSG_V2":
        sender, guard, pay = _dict(data, "sender_uinfo"), _dict(data, "guard_info"), _dict(data, "pay_info")
        uid, uname = _int(sender.get("uid")), _str(_dict(sender, "base").get("name"))
        level, role, price = _int(guard.get("guard_level")), _str(guard.get("role_name")), _int(pay.get("price"))
        op_type: int | None = _int(guard.get("op_type"))
        start = _int(guard.get("start_time"))
    else:
        uid, uname = _int(data.get("uid")), _str(data.get("username"))
        level, role, price = _int(data.get("guard_level")), _str(data.get("role_name")), _int(data.get("price"))
        op_type = _int(data.get("op_type")) if name == "USER_TOAST_MSG" else None
        start = _int(data.get("start_time"))
    role = role or GUARD_NAMES.get(level, "")
    if not uname or not role:
        return None
    renewal = None if op_type is None else op_type in RENEWAL_OP_TYPES
    return GuardPurchase(uid, uname, level, role, price / GOLD_PER_YUAN, renewal, start)


def _interaction(name: str, data: dict[str, Any]) -> Interaction | Skipped | None:
    """INTERACT_WORD (JSON) or INTERACT_WORD_V2 (protobuf in data.pb)."""
    if name == "INTERACT_WORD_V2":
        try:
            word = decode_interact_word_v2(data)
        except BadPayload:
            return Skipped("bad_interact_v2")
        uid, uname, msg_type = word.uid, word.uname, word.msg_type
    else:
        uid, uname, msg_type = _int(data.get("uid")), _str(data.get("uname")), _int(data.get("msg_type"))
    what = INTERACTIONS.get(msg_type)
    return Interaction(what, uid, uname) if what and uname else None


def _recall(data: dict[str, Any]) -> ChatEvent | None:
    target = _int(data.get("target_id"))
    recall_type = _int(data.get("recall_type"), RECALL_ONE)
    if recall_type == RECALL_ALL:
        return ChatEvent(text="", kind=EventKind.CLEAR)
    if not target:
        return None
    if recall_type == RECALL_USER:
        return ChatEvent(text="", kind=EventKind.RECALL, uid=target)
    return ChatEvent(text="", kind=EventKind.RECALL, msg_id=str(target))


def _cut_off_reason(cmd: dict[str, Any], data: dict[str, Any]) -> str:
    """CUT_OFF says why in `msg`; CUT_OFF_V2 in `data.cut_off_data`: a title and labelled lines."""
    cut = _dict(data, "cut_off_data")
    lines = cut.get("cut_off_message_list")
    parts = [_str(cmd.get("msg")) or _str(data.get("msg")), _str(cut.get("cut_off_title"))]
    for line in lines[:10] if isinstance(lines, list) else []:
        if isinstance(line, dict):
            label, content = _str(line.get("label")), _str(line.get("content"))
            parts.append(f"{label}: {content}" if label and content else label or content)
    return "; ".join(p for p in parts if p)


Mapped = ChatEvent | GiftTally | GuardPurchase | Interaction | Notice | Skipped


def map_command(cmd: Any, owner_uid: int = 0) -> Mapped | list[ChatEvent] | list[GiftTally] | None:
    """One websocket command to what the bot cares about (a list when one command carries several: a V2
    gift broadcast's gifts, a super-chat deletion's ids), or None to ignore it."""
    if not isinstance(cmd, dict):
        return None
    name = command_name(cmd)
    data = cmd.get("data") if isinstance(cmd.get("data"), dict) else {}
    assert isinstance(data, dict)
    if name == "DANMU_MSG":
        return _danmaku(cmd, owner_uid)
    if name in ("SUPER_CHAT_MESSAGE", "SUPER_CHAT_MESSAGE_JPN"):
        return _super_chat(data)
    if name == "SUPER_CHAT_MESSAGE_DELETE":
        return _super_chat_deleted(data) or None
    if name == "SEND_GIFT":
        return _gift(data)
    if name == "SEND_GIFT_V2":
        return _gift_v2(data)
    if name in ("GUARD_BUY", "USER_TOAST_MSG", "USER_TOAST_MSG_V2"):
        return _guard(name, data)
    if name in ("INTERACT_WORD", "INTERACT_WORD_V2"):
        return _interaction(name, data)
    if name == "ROOM_BLOCK_MSG":
        uid = _int(data.get("uid", cmd.get("uid")))
        uname = _str(data.get("uname", cmd.get("uname")))
        return ChatEvent(text="", uid=uid, uname=uname, kind=EventKind.BAN) if uid else None
    if name == "RECALL_DANMU_MSG":
        return _recall(data)
    if name in ("LIVE", "PREPARING"):
        return Notice(name)
    if name in ("WARNING", "CUT_OFF", "CUT_OFF_V2"):
        return Notice(name, _cut_off_reason(cmd, data))
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


class GuardMerger:
    """Holds a guard purchase for `hold_s` so that its other copies (GUARD_BUY, USER_TOAST_MSG,
    USER_TOAST_MSG_V2, in any order) fold into one thank-you, worded by whichever copy says whether it was a
    renewal. Bounded like GiftMerger."""

    def __init__(self, hold_s: float, max_open: int = 1000) -> None:
        self.hold_s = hold_s
        self.max_open = max_open
        self._open: dict[str, tuple[GuardPurchase, float]] = {}

    def holds(self, purchase: GuardPurchase) -> bool:
        return purchase.key in self._open

    def add(self, purchase: GuardPurchase, now: float | None = None) -> list[GuardPurchase]:
        now = time.monotonic() if now is None else now
        held = self._open.get(purchase.key)
        if held is None:
            self._open[purchase.key] = (purchase, now)
        elif held[0].renewal is None and purchase.renewal is not None:
            self._open[purchase.key] = (purchase, held[1])
        flushed = []
        while len(self._open) > self.max_open:
            flushed.append(self._open.pop(next(iter(self._open)))[0])
        return flushed

    def due(self, now: float | None = None) -> list[GuardPurchase]:
        now = time.monotonic() if now is None else now
        ready = [k for k, (_, at) in self._open.items() if now - at >= self.hold_s]
        return [self._open.pop(k)[0] for k in ready]
