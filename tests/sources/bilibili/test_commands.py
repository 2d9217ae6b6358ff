"""Bilibili commands to ChatEvents: the real captures, every field of DANMU_MSG, gifts, moderation."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.events import ChatEvent, EventKind, Role
from bot.sources.bilibili.commands import (
    GiftMerger,
    GiftTally,
    GuardMerger,
    GuardPurchase,
    Interaction,
    Notice,
    Skipped,
    command_name,
    map_command,
)
from bot.sources.bilibili.protobuf import (
    GiftBroadcast,
    GiftItem,
    InteractWord,
    encode_interact_word_v2,
    encode_send_gift_v2,
)

SAMPLES = Path(__file__).parents[1] / "fixtures" / "live-cmd-subset.jsonl"
"""56 examples from sjh8130/bili_danmaku's protocol notebook `Testing.md` (masked there): every DANMU_MSG
variant, the moderation and live-state commands, and 30 kinds the bot ignores; see fixtures/SOURCES.md."""
PAID = Path(__file__).parents[1] / "fixtures" / "bilibili-paid-and-withdrawn.jsonl"
"""Super chats and their twin and deletion, guard toasts, recalls, lottery danmaku: sources in fixtures/SOURCES.md."""
OTHER_KINDS = Path(__file__).parents[1] / "fixtures" / "live-cmd-other-kinds.jsonl"
"""The rest of that `Testing.md`: one example of each kind not in the two files above, and every further example
of a kind the bot reads (a JSON INTERACT_WORD, a third GUARD_BUY). With them the three files hold all 160 kinds."""


def capture(cmd: str, nth: int = 0) -> dict[str, Any]:
    found = [c for line in PAID.read_text(encoding="utf-8").splitlines() if (c := json.loads(line))["cmd"] == cmd]
    return found[nth]  # type: ignore[no-any-return]


def danmu(
    text: str,
    uid: int = 5,
    uname: str = "小明",
    admin: int = 0,
    mode: int = 1,
    dm_type: int = 0,
    dmid: int = 0,
    lottery: int = 0,
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
        dmid,
        0,
        "x",
        0,
        lottery,
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
    # 6 DANMU_MSG (incl. variants): one mode 7 (positioned JSON) and one sticker (dm_type 1) are not speech,
    # two are lottery keywords (info[0][9] = 2); DANMU_MSG_MIRROR (a linked room's chat) is not this room's.
    assert kinds["danmaku"] == 2
    assert kinds["Skipped"] == 4  # the two lottery danmaku; SEND_GIFT_V2 and INTERACT_WORD_V2 (pb masked)
    assert kinds["ban"] == 5
    assert kinds["Notice"] >= 7  # LIVE, PREPARING, WARNING, CUT_OFF
    assert kinds["NoneType"] >= 30  # kinds the bot does not care about


def test_every_kind_in_the_notebook_maps_or_is_ignored() -> None:
    """Every command kind of the notebook, and every example of a kind the bot reads, comes out as what the bot
    makes of it; none raises. 148 of the 186 are ignored; the rest are speech, moderation and live state."""
    cmds = [json.loads(line) for path in (SAMPLES, PAID, OTHER_KINDS) for line in path.read_text("utf-8").splitlines()]
    outcomes: Counter[str] = Counter()
    for cmd in cmds:
        out = map_command(cmd, owner_uid=9999999999)
        outcomes[out.kind.value if isinstance(out, ChatEvent) else type(out).__name__] += 1
    assert len({command_name(cmd) for cmd in cmds}) == 160
    assert outcomes == Counter(
        NoneType=148,
        Notice=10,
        Skipped=7,
        ban=5,
        GuardPurchase=4,
        danmaku=3,
        list=2,
        recall=2,
        clear=2,
        super_chat=2,
        Interaction=1,
    )


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


def test_a_room_admin_is_known_from_the_danmaku_itself() -> None:
    """The real capture of an admin's danmaku carries the flag at info[2][2], even read anonymously (uid and
    name masked): no admin list is needed. Its lottery flag is cleared so that it maps to speech."""
    cmd = capture("DANMU_MSG")
    assert cmd["info"][2][:3] == [0, "***", 1]
    cmd["info"][0][9] = 0
    ev = map_command(cmd, owner_uid=9999999999)
    assert isinstance(ev, ChatEvent) and (ev.role, ev.uid) == (Role.MODERATOR, 0)  # uid 0: commands refused


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
            "data": {"uid": 3, "username": "金主", "guard_level": 3, "price": 198000, "op_type": 1},
        }
    )
    assert toast == GuardPurchase(3, "金主", 3, "舰长", 198, renewal=False)
    ban = map_command({"cmd": "ROOM_BLOCK_MSG", "data": {"uid": 66, "uname": "捣乱"}, "uid": 66})
    assert isinstance(ban, ChatEvent) and (ban.kind, ban.uid) == (EventKind.BAN, 66)
    recall = map_command({"cmd": "RECALL_DANMU_MSG", "data": {"recall_type": 1, "target_id": 123}})
    assert isinstance(recall, ChatEvent) and (recall.kind, recall.msg_id) == (EventKind.RECALL, "123")
    notice = map_command({"cmd": "LOG_IN_NOTICE", "data": {"notice_msg": "请登录"}})
    assert isinstance(notice, Notice) and notice.message == "请登录"
    assert map_command({"cmd": "GUARD_BUY", "data": {"uid": 3}}) is None  # no name, no level: nothing to thank


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
            "SEND_GIFT_V2",
            "SUPER_CHAT_MESSAGE_DELETE",
            "GUARD_BUY",
            "USER_TOAST_MSG",
            "USER_TOAST_MSG_V2",
            "CUT_OFF_V2",
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


def v2_gift(tid: str = "1733-abc", num: int = 5, total_coin: int = 500, uid: int = 3) -> dict[str, Any]:
    item = GiftItem(31036, "小花花", num=num, price=100, total_coin=total_coin, coin_type="gold", tid=tid)
    pb = encode_send_gift_v2(GiftBroadcast(uid, "金主", 3, 12, "狸宝", 777, (item,)))
    return {"cmd": "SEND_GIFT_V2", "data": {"dmscore": 56, "pb": pb}}


def test_a_v2_gift_is_decoded_with_its_price_and_transaction_id() -> None:
    (tally,) = map_command(v2_gift())  # type: ignore[misc]
    assert tally == GiftTally(3, "金主", "小花花", 5, pytest.approx(0.5), 3, "1733-abc", last_at=tally.last_at)
    v1 = map_command({**gift(5, total=500), "data": {**gift(5, total=500)["data"], "tid": "1733-abc"}})
    assert isinstance(v1, GiftTally) and v1.tid == tally.tid  # what lets the source thank the pair once


@pytest.mark.parametrize(
    "pb",
    [
        "...",  # the real capture: masked
        "",
        base64.b64encode(base64.b64decode(v2_gift()["data"]["pb"])[:-3]).decode(),  # truncated
        base64.b64encode(b"\x50\x05").decode(),  # gift_list (10) sent as a varint: no gift left
        base64.b64encode(b"\x52\x03\x12\x02\xff\xfe").decode(),  # a gift name that is not UTF-8
        "A" * 100_000,
    ],
)
def test_a_malformed_v2_gift_is_skipped_with_a_reason(pb: str) -> None:
    assert map_command({"cmd": "SEND_GIFT_V2", "data": {"pb": pb}}) == Skipped("bad_gift_v2")


def test_super_chat_twin_and_deletion_name_the_same_id() -> None:
    sc = map_command(capture("SUPER_CHAT_MESSAGE"))
    assert isinstance(sc, ChatEvent) and (sc.kind, sc.msg_id, sc.text) == (EventKind.SUPER_CHAT, "sc:9999999999", "xxx")
    jpn = map_command(capture("SUPER_CHAT_MESSAGE_JPN"))  # id and uid as strings there
    assert isinstance(jpn, ChatEvent) and (jpn.kind, jpn.msg_id, jpn.uid, jpn.text) == (
        EventKind.SUPER_CHAT,
        "sc:12345",
        12345,
        "123",  # the original, not message_jpn
    )
    (deleted,) = map_command(capture("SUPER_CHAT_MESSAGE_DELETE"))  # type: ignore[misc]
    assert (deleted.kind, deleted.msg_id) == (EventKind.RECALL, "sc:123")


def test_recalls_by_danmaku_by_viewer_and_all() -> None:
    by_user = map_command(capture("RECALL_DANMU_MSG"))  # recall_type 2: target_id is the viewer
    assert isinstance(by_user, ChatEvent) and (by_user.kind, by_user.uid, by_user.msg_id) == (
        EventKind.RECALL,
        9999999999,
        "",
    )
    everything = map_command(capture("RECALL_DANMU_MSG", 1))  # recall_type 3, target_id 0
    assert isinstance(everything, ChatEvent) and everything.kind == EventKind.CLEAR
    dm = map_command(capture("DANMU_MSG", 1))  # int64 dmid in info[0][5], and a hex id_str in extra
    assert isinstance(dm, ChatEvent) and dm.msg_id == "3745805152027139263"
    one = map_command({"cmd": "RECALL_DANMU_MSG", "data": {"recall_type": 1, "target_id": 3745805152027139263}})
    assert isinstance(one, ChatEvent) and one.msg_id == dm.msg_id


def test_lottery_keywords_are_skipped() -> None:
    assert map_command(capture("DANMU_MSG:4:0:2:2:2:0")) == Skipped("lottery")
    assert map_command(danmu("参与天选", lottery=2)) == Skipped("lottery")
    assert isinstance(map_command(danmu("普通弹幕")), ChatEvent)


def test_guard_copies_share_a_key_and_renewals_are_told_apart() -> None:
    buy = map_command({"cmd": "GUARD_BUY", "data": {**capture("GUARD_BUY")["data"], "start_time": 1700000000}})
    toast_v2 = capture("USER_TOAST_MSG_V2")
    toast_v2["data"]["guard_info"].update(guard_level=3, role_name="舰长", op_type=2, start_time=1700000000)
    toast_v2["data"]["sender_uinfo"]["uid"] = 9999999999
    toast = map_command(toast_v2)
    assert isinstance(buy, GuardPurchase) and isinstance(toast, GuardPurchase)
    assert buy.key == toast.key and (buy.renewal, toast.renewal) == (None, True)
    assert (buy.uname, buy.role, buy.price) == ("xxx", "舰长", 198)
    merger = GuardMerger(hold_s=2.0)
    assert merger.add(buy, now=0.0) == [] and merger.add(toast, now=0.5) == []
    assert merger.due(now=1.0) == []
    assert merger.due(now=2.0) == [toast]  # the copy that says it is a renewal words the thanks


def test_cut_off_v2_gives_its_reason() -> None:
    cut = {
        "cmd": "CUT_OFF_V2",
        "data": {
            "cut_off_data": {
                "cut_off_title": "直播间违规",
                "cut_off_message_list": [{"label": "原因", "content": "画面违规"}, "junk"],
            }
        },
    }
    assert map_command(cut) == Notice("CUT_OFF_V2", "直播间违规; 原因: 画面违规")
    assert map_command(capture("CUT_OFF")) == Notice("CUT_OFF", "xxx")


def interact_v2(msg_type: int, uid: int = 8, uname: str = "路人") -> dict[str, Any]:
    pb = encode_interact_word_v2(InteractWord(uid, uname, msg_type))
    return {"cmd": "INTERACT_WORD_V2", "data": {"dmscore": 12, "pb": pb}}


def test_entries_follows_and_shares_in_json_and_protobuf() -> None:
    assert map_command(interact_v2(2)) == Interaction("follow", 8, "路人")
    assert map_command(interact_v2(1)) == Interaction("entry", 8, "路人")
    assert map_command({"cmd": "INTERACT_WORD", "data": {"uid": 9, "uname": "甲", "msg_type": 3}}) == Interaction(
        "share", 9, "甲"
    )
    assert map_command(interact_v2(99)) is None
    assert map_command({"cmd": "INTERACT_WORD_V2", "data": {"pb": "xxx"}}) == Skipped("bad_interact_v2")
