"""`SEND_GIFT_V2` and `INTERACT_WORD_V2`: Bilibili's gift broadcast and viewer interaction (entry, follow,
share) as protobuf (base64 in `data.pb`), decoded by Google's runtime.

Bilibili publishes no `.proto`; the field layout is the one public clients decode today, declared here as a
descriptor built at import time rather than a protoc-generated `_pb2` module: no build step, no generated
file pinned to one protobuf release (generated code refuses older runtimes), and the layout reads as a
table. Only the fields the bot uses are declared; the parser skips the rest (and keeps a field sent with an
unexpected wire type as an unknown field, so such a field simply reads as absent).

Layout: xfgryujk/blivedm `blivedm/models/pb.py` at 3bf17fe862b8c2fc6bc04c81c3f0c5db95de93d6 (2026-08-15),
`SendGiftBroadcast` and `InteractWordV2`; the gift's numbers are decoded alike by other public clients
(uid 1, uname 2, guard_level 5, medal_info 8, gift_list 10; per gift: id 1, name 2, num 3, price 5,
total_coin 7, coin_type 8, tid 9).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

_F = descriptor_pb2.FieldDescriptorProto
_INT, _STR, _MSG = _F.TYPE_INT64, _F.TYPE_STRING, _F.TYPE_MESSAGE
_LAYOUT: dict[str, list[tuple[str, int, int, str]]] = {
    # message: [(field, number, type, message type of a nested field)]
    "MedalInfo": [("target_id", 1, _INT, ""), ("medal_level", 5, _INT, ""), ("medal_name", 6, _STR, "")],
    "GiftItem": [
        ("gift_id", 1, _INT, ""),
        ("gift_name", 2, _STR, ""),
        ("num", 3, _INT, ""),
        ("price", 5, _INT, ""),
        ("total_coin", 7, _INT, ""),
        ("coin_type", 8, _STR, ""),
        ("tid", 9, _STR, ""),
    ],
    "SendGiftBroadcast": [
        ("uid", 1, _INT, ""),
        ("uname", 2, _STR, ""),
        ("guard_level", 5, _INT, ""),
        ("medal_info", 8, _MSG, "MedalInfo"),
        ("gift_list", 10, _MSG, "GiftItem"),
    ],
    "InteractWord": [("uid", 1, _INT, ""), ("uname", 2, _STR, ""), ("msg_type", 5, _INT, "")],
}
_REPEATED = {("SendGiftBroadcast", "gift_list")}
_PACKAGE = "ishowtts.bilibili"
MAX_PB_CHARS = 64 * 1024
"""A real gift broadcast is a few hundred bytes; anything this long is not one."""


def _message_classes() -> dict[str, Any]:
    proto = descriptor_pb2.FileDescriptorProto(name="bilibili_live_v2.proto", package=_PACKAGE, syntax="proto3")
    for message, fields in _LAYOUT.items():
        declared = proto.message_type.add(name=message)
        for field, number, kind, nested in fields:
            label = _F.LABEL_REPEATED if (message, field) in _REPEATED else _F.LABEL_OPTIONAL
            added = declared.field.add(name=field, number=number, type=kind, label=label)
            if nested:
                added.type_name = f".{_PACKAGE}.{nested}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")) for name in _LAYOUT}


_MESSAGES = _message_classes()


class BadPayload(ValueError):
    """`data.pb` is missing, not base64, or not the message it should be (truncated, corrupt)."""


@dataclass(frozen=True)
class GiftItem:
    """One entry of `gift_list`, field for field (the names are the layout's)."""

    gift_id: int
    gift_name: str
    num: int
    price: int
    """Gold coins per gift (1000 = ¥1)."""
    total_coin: int
    """What was paid for all `num`, in coins."""
    coin_type: str
    tid: str
    """The transaction id: the same gift's SEND_GIFT (v1) copy carries the same `tid`."""


_GIFT_ITEM_FIELDS = [f.name for f in dataclasses.fields(GiftItem)]


@dataclass(frozen=True)
class GiftBroadcast:
    uid: int
    uname: str
    guard_level: int
    medal_level: int
    medal_name: str
    medal_anchor_uid: int
    gifts: tuple[GiftItem, ...]


def _parse(data: dict[str, Any], name: str) -> Any:
    encoded = data.get("pb")
    if not isinstance(encoded, str) or not encoded or len(encoded) > MAX_PB_CHARS:
        raise BadPayload("no data.pb")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadPayload(f"data.pb is not base64: {err}") from None
    message = _MESSAGES[name]()
    try:
        message.ParseFromString(raw)
    except DecodeError as err:
        raise BadPayload(f"data.pb is not a {name}: {err}") from None
    return message


def decode_send_gift_v2(data: dict[str, Any]) -> GiftBroadcast:
    """`SEND_GIFT_V2`'s `data` to a GiftBroadcast; BadPayload when it cannot be read."""
    message = _parse(data, "SendGiftBroadcast")
    medal = message.medal_info
    return GiftBroadcast(
        uid=int(message.uid),
        uname=str(message.uname),
        guard_level=int(message.guard_level),
        medal_level=int(medal.medal_level),
        medal_name=str(medal.medal_name),
        medal_anchor_uid=int(medal.target_id),
        gifts=tuple(GiftItem(**{f: getattr(g, f) for f in _GIFT_ITEM_FIELDS}) for g in message.gift_list),
    )


@dataclass(frozen=True)
class InteractWord:
    uid: int
    uname: str
    msg_type: int
    """1 entered the room, 2 followed, 3 shared it, 4 followed specially, 5 followed back."""


def decode_interact_word_v2(data: dict[str, Any]) -> InteractWord:
    """`INTERACT_WORD_V2`'s `data` to an InteractWord; BadPayload when it cannot be read."""
    message = _parse(data, "InteractWord")
    return InteractWord(int(message.uid), str(message.uname), int(message.msg_type))


def encode_interact_word_v2(word: InteractWord) -> str:
    """The inverse, for the fake live server and tests."""
    message = _MESSAGES["InteractWord"](uid=word.uid, uname=word.uname, msg_type=word.msg_type)
    return base64.b64encode(message.SerializeToString()).decode("ascii")


def encode_send_gift_v2(broadcast: GiftBroadcast) -> str:
    """The inverse, for the fake live server and tests: `data.pb` as Bilibili sends it."""
    message = _MESSAGES["SendGiftBroadcast"](uid=broadcast.uid, uname=broadcast.uname)
    message.guard_level = broadcast.guard_level
    message.medal_info.medal_level = broadcast.medal_level
    message.medal_info.medal_name = broadcast.medal_name
    message.medal_info.target_id = broadcast.medal_anchor_uid
    for g in broadcast.gifts:
        message.gift_list.add(**asdict(g))
    return base64.b64encode(message.SerializeToString()).decode("ascii")
