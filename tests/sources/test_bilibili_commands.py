"""Bilibili commands to ChatEvents: the real captures, every field of DANMU_MSG, gifts, moderation."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.events import ChatEvent, EventKind, Role
from bot.sources.bilibili_commands import GiftMerger, GiftTally, Notice, map_command

SAMPLES = Path(__file__).parent / "fixtures" / "live-cmd-subset.jsonl"
"""Picked from ../shared/bilibili/live-cmd-samples.jsonl (sjh8130/bili_danmaku's protocol notebook, masked):
every DANMU_MSG variant, the moderation and live-state commands, and 30 kinds the bot ignores."""
ALL_SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "bilibili" / "live-cmd-samples.jsonl"


def danmu(
    text: str,
    uid: int = 5,
    uname: str = "小明",
    admin: int = 0,
    mode: int = 1,
    dm_type: int = 0,
    extra: dict[str, Any] | None = None,
    medal: list[Any] | None = None,
    guard: int = 0,
    cmd: str = "DANMU_MSG",
) -> dict[str, Any]:
    meta: list[Any] = [
        0,
        mode,
        25,
        16777215,
        0,
        0,
        0,
        "x",
        0,
        0,
        0,
        "",
        dm_type,
        "{}",
        "{}",
        {"extra": json.dumps(extra or {}, ensure_ascii=False)},
    ]
    return {
        "cmd": cmd,
        "info": [meta, text, [uid, uname, admin, 0, 0, 10000, 1, ""], medal or [], [0], ["", ""], 0, guard],
    }


def test_every_real_capture_maps_or_is_ignored_without_error() -> None:
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    kinds: Counter[str] = Counter()
    for line in lines:
        out = map_command(json.loads(line), owner_uid=9999999999)
        kinds[type(out).__name__ if not isinstance(out, ChatEvent) else out.kind.value] += 1
    # 6 DANMU_MSG (incl. variants): one mode 7 (positioned JSON) and one sticker (dm_type 1) are not speech;
    # DANMU_MSG_MIRROR (a linked room's chat) is not this room's.
    assert kinds["danmaku"] == 4
    assert kinds["ban"] == 5
    assert kinds["Notice"] >= 7  # LIVE, PREPARING, WARNING, CUT_OFF
    assert kinds["NoneType"] >= 30  # kinds the bot does not care about


def test_all_282_shared_captures_map_or_are_ignored() -> None:
    if not ALL_SAMPLES.is_file():
        pytest.skip(f"{ALL_SAMPLES} is not beside this checkout (the subset above always runs)")
    lines = ALL_SAMPLES.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 282
    for line in lines:
        map_command(json.loads(line), owner_uid=9999999999)


def test_danmaku_fields_land_where_expected() -> None:
    cmd = danmu(
        "主播好[dog]厉害",
        uid=42,
        uname="阿狸",
        admin=1,
        guard=3,
        medal=[21, "狸宝", "主播", 4242],
        extra={"id_str": "7f3a", "reply_uname": "小明", "emots": {"[dog]": {"url": "x"}}},
        cmd="DANMU_MSG:4:0:2:2:2:0",
    )
    ev = map_command(cmd)
    assert isinstance(ev, ChatEvent)
    assert (ev.text, ev.uid, ev.uname, ev.msg_id, ev.reply_to) == ("主播好厉害", 42, "阿狸", "7f3a", "小明")
    assert (ev.role, ev.guard_level, ev.medal_level, ev.medal_name, ev.medal_room) == (
        Role.MODERATOR,
        3,
        21,
        "狸宝",
        4242,
    )
    owner = map_command(danmu("我是主播", uid=777), owner_uid=777)
    assert isinstance(owner, ChatEvent) and owner.role == Role.STREAMER


@pytest.mark.parametrize(
    "cmd",
    [
        danmu('[1.0,0.0,"0.8-0.5",10.0,"哈哈"]', mode=7),  # advanced danmaku: positioning JSON
        danmu("[dog]", dm_type=1),  # a sticker
        danmu("[dog][doge]", extra={"emots": {"[dog]": {}, "[doge]": {}}}),  # only inline emoticons
        {"cmd": "DANMU_MSG", "info": "garbage"},
        {"cmd": "DANMU_MSG", "info": [None, None, None]},
        {"cmd": "SUPER_CHAT_MESSAGE", "data": {"message": ""}},
    ],
)
def test_what_is_not_speech_is_ignored(cmd: dict[str, Any]) -> None:
    assert map_command(cmd) is None


def test_anonymous_viewers_are_masked_with_uid_zero() -> None:
    ev = map_command(danmu("晚上好", uid=0, uname="江***"))
    assert isinstance(ev, ChatEvent) and ev.uid == 0 and ev.uname == "江***" and ev.role == Role.VIEWER


def test_super_chat_guard_ban_recall_and_notices() -> None:
    sc = map_command(
        {
            "cmd": "SUPER_CHAT_MESSAGE",
            "data": {
                "id": 9,
                "uid": 3,
                "price": 30,
                "message": "加油",
                "user_info": {"uname": "金主", "guard_level": 2},
            },
        }
    )
    assert isinstance(sc, ChatEvent) and (sc.kind, sc.price, sc.text, sc.uname) == (
        EventKind.SUPER_CHAT,
        30,
        "加油",
        "金主",
    )
    toast = map_command(
        {
            "cmd": "USER_TOAST_MSG",
            "data": {"uid": 3, "username": "金主", "guard_level": 3, "price": 198000, "role_name": "舰长"},
        }
    )
    assert isinstance(toast, ChatEvent) and (toast.kind, toast.text, toast.price) == (EventKind.GUARD, "舰长", 198)
    ban = map_command({"cmd": "ROOM_BLOCK_MSG", "data": {"uid": 66, "uname": "捣乱"}, "uid": 66})
    assert isinstance(ban, ChatEvent) and (ban.kind, ban.uid) == (EventKind.BAN, 66)
    recall = map_command({"cmd": "RECALL_DANMU_MSG", "data": {"recall_type": 2, "target_id": 123}})
    assert isinstance(recall, ChatEvent) and (recall.kind, recall.msg_id) == (EventKind.RECALL, "123")
    notice = map_command({"cmd": "LOG_IN_NOTICE", "data": {"notice_msg": "请登录"}})
    assert isinstance(notice, Notice) and notice.message == "请登录"
    assert map_command({"cmd": "GUARD_BUY", "data": {"uid": 3}}) is None  # the toast covers the purchase


def gift(n: int, coin: str = "gold", total: int = 100, uid: int = 3) -> dict[str, Any]:
    return {
        "cmd": "SEND_GIFT",
        "data": {"uid": uid, "uname": "金主", "giftName": "小心心", "num": n, "coin_type": coin, "total_coin": total},
    }


def test_a_50_gift_combo_is_merged_into_one_tally() -> None:
    merger = GiftMerger(window_s=3.0)
    for i in range(50):
        tally = map_command(gift(1))
        assert isinstance(tally, GiftTally)
        assert merger.add(tally, now=i * 0.1) == []
    assert map_command({"cmd": "COMBO_SEND", "data": {"uid": 3, "combo_num": 50}}) is None
    assert merger.due(now=5.0) == []
    (done,) = merger.due(now=4.9 + 3.0)
    assert (done.count, done.gift, done.yuan) == (50, "小心心", pytest.approx(5.0))
    free = map_command(gift(1, coin="silver"))
    assert isinstance(free, GiftTally) and free.yuan == 0.0


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda kids: st.lists(kids, max_size=20) | st.dictionaries(st.text(max_size=8), kids, max_size=8),
        max_leaves=60,
    ),
    st.sampled_from(
        [
            "DANMU_MSG",
            "DANMU_MSG:4:0:2:2:2:0",
            "SUPER_CHAT_MESSAGE",
            "SEND_GIFT",
            "USER_TOAST_MSG",
            "ROOM_BLOCK_MSG",
            "RECALL_DANMU_MSG",
            "WARNING",
            "LOG_IN_NOTICE",
            "X",
        ]
    ),
)
def test_malformed_commands_never_raise(junk: Any, name: str) -> None:
    map_command(junk)
    map_command({"cmd": name, "info": junk, "data": junk})
