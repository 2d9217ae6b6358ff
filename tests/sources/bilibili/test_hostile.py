"""Hostile chat: danmaku through bilibili-api-python's real client, the fake server and the whole daemon (a lone
surrogate, half an emoji and valid JSON, in a command, a name and a dropped message; a newline in a name), and
arbitrary values in every field of the Bilibili and Twitch mappings."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.events import ChatEvent
from bot.sources.bilibili.commands import map_command
from bot.sources.bilibili.fake_server import OP_COMMAND, pack
from bot.sources.twitch.irc import parse_line, to_event
from tests.sources.bilibili.test_commands import danmu
from tests.sources.bilibili.test_source import live_daemon, spoken
from tests.sources.twitch.test_source import until

Tls = tuple[ssl.SSLContext, ssl.SSLContext]
HALF = "\ud83d"  # the first half of 😀: JSON may carry it escaped, no UTF-8 encoder accepts it


def escaped(cmd: dict[str, Any]) -> bytes:
    """The command as the server would send it: ASCII JSON, the lone surrogate as `\\ud83d`."""
    return pack(OP_COMMAND, json.dumps(cmd, ensure_ascii=True).encode())


async def test_lone_surrogates_and_newlines_cannot_kill_the_daemon(tls: Tls, tmp_path: Path) -> None:
    async with live_daemon(tls, tmp_path) as (server, daemon):
        for cmd in (
            danmu(f"#tts mute 1{HALF}", uid=5, uname="viewer"),  # refused, audited
            danmu("hello", uid=6, uname=f"half{HALF}\nINFO forged line"),
            danmu(f"#tts mute 6 10m {HALF}", uid=9, uname="mod", admin=1),  # a mute of that name: saved
            danmu(f"？？{HALF}", uid=7, uname="x"),  # dropped (unspeakable): shown on the status page
            danmu("last one", uid=8, uname="y"),
        ):
            await server.send_raw(escaped(cmd))
        await until(lambda: "last one" in spoken(daemon), 30, "the last message")
        status = json.dumps(daemon.snapshot().as_json(), ensure_ascii=False).encode()  # what /api/status sends
        assert HALF.encode("utf-8", "surrogatepass") not in status
    assert daemon.exit_code == 0
    assert daemon.ledger.drops["unspeakable"] == 1 and daemon.moderator.commands == 2
    mute = daemon.moderator.state.mutes[6]
    assert mute.name == "half\ufffd INFO forged line"
    state = json.loads((tmp_path / "state" / "state.json").read_text(encoding="utf-8"))
    assert state["mutes"][0]["name"] == "half\ufffd INFO forged line"
    audit = (tmp_path / "state" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["ok"] for line in audit] == [False, True]


_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None), max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_JUNK, min_size=16, max_size=16), st.lists(_JUNK, min_size=8, max_size=8), _JUNK)
def test_any_value_in_any_field_of_a_danmaku_maps_without_raising(meta: list[Any], info: list[Any], junk: Any) -> None:
    """The real shape of DANMU_MSG and SUPER_CHAT_MESSAGE with arbitrary JSON in each field."""
    for cmd in (
        {"cmd": "DANMU_MSG", "info": [meta, *info]},
        {"cmd": "DANMU_MSG", "info": [[0, 1, *meta[2:12], 0], junk, [junk, junk, junk], info, 0, 0, 0, junk]},
        {"cmd": "SUPER_CHAT_MESSAGE", "data": {"message": junk, "uid": junk, "price": junk, "user_info": junk}},
        {"cmd": "ROOM_BLOCK_MSG", "data": {"uid": junk, "uname": junk}},
    ):
        out = map_command(json.loads(json.dumps(cmd)))
        if isinstance(out, ChatEvent):
            for value in (out.text, out.uname, out.msg_id, out.medal_name, out.reply_to):
                value.encode("utf-8")
                assert "\n" not in value


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec=None), max_size=40), st.text(st.characters(codec=None), max_size=40))
def test_twitch_tags_and_text_with_any_characters_map_to_clean_events(name: str, text: str) -> None:
    escaped = name.replace("\\", "\\\\").replace(";", "\\:").replace(" ", "\\s")
    escaped = escaped.replace("\r", "\\r").replace("\n", "\\n")
    line = f"@display-name={escaped};user-id=5;id=x :u!u@h PRIVMSG #dallas :{text}".replace("\r", "").replace("\n", "")
    try:
        msg = parse_line(line)
    except ValueError:
        return
    out = to_event(msg, "dallas")
    if isinstance(out, ChatEvent):
        for value in (out.text, out.uname):
            value.encode("utf-8")
            assert "\n" not in value and "\r" not in value
