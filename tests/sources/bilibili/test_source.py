"""The real bilibili-api-python client against a local server speaking Bilibili's live protocol (TLS,
HTTP bootstrap, websocket packets): events, reconnects, bad frames, floods and credential hygiene."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.backoff import Backoff
from bot.config import parse_config
from bot.events import ChatEvent, EventKind, Role
from bot.pipeline import Daemon
from bot.sources.bilibili import BilibiliSource
from bot.sources.bilibili.fake_server import HEADER, OP_COMMAND, FakeBilibiliServer, pack, pack_commands
from bot.sources.bilibili.source import BilibiliChatSource
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.testing.voice_clips import ZH_REF, ZH_TEXT
from tests.sources.bilibili.conftest import start_server
from tests.sources.bilibili.test_commands import danmu, gift, interact_v2, v2_gift
from tests.sources.twitch.test_source import RecordingSink, until

Tls = tuple[ssl.SSLContext, ssl.SSLContext]


class Running:
    def __init__(self, server: FakeBilibiliServer, source: BilibiliChatSource) -> None:
        self.server = server
        self.source = source
        self.events: list[ChatEvent] = []
        self._task: asyncio.Task[None] | None = None

    async def collect(self) -> None:
        async for ev in self.source.events():
            self.events.append(ev)

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[ChatEvent]:
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(self.events) >= n, f"got {len(self.events)} of {n} events"
        return self.events

    async def connected(self, times: int = 1, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.source.connects < times and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert self.source.connects >= times, f"connected {self.source.connects} times, wanted {times}"


@asynccontextmanager
async def running(tls: Tls, cfg: BilibiliSource, consume: bool = True) -> AsyncIterator[Running]:
    server = await start_server(tls)
    from bot.sources.bilibili.fake_server import loopback_session

    source = BilibiliChatSource(
        cfg,
        session_factory=lambda: loopback_session(server.port, tls[1]),
        backoff=Backoff(base_s=0.05, cap_s=0.2, stable_s=60),
    )
    run = Running(server, source)
    task = asyncio.create_task(run.collect()) if consume else None
    try:
        if consume:
            await run.connected()
        yield run
    finally:
        if task is not None:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await server.stop()


async def test_bootstrap_auth_and_danmaku_in_every_packing(tls: Tls, source_cfg: Callable[..., BilibiliSource]) -> None:
    async with running(tls, source_cfg()) as run:
        auth = run.server.auths[0]
        assert (auth["roomid"], auth["uid"], auth["protover"], auth["key"]) == (424242, 0, 3, "fake-token")
        assert run.source.owner_uid == 777
        await run.server.send([danmu("一", uid=1), danmu("二", uid=777)], protover=0)
        await run.server.send([danmu("三", uid=2, admin=1), danmu("四", uid=3)], protover=3)  # brotli, 2 per packet
        events = await run.wait_for(4)
        assert [e.text for e in events] == ["一", "二", "三", "四"]
        assert [e.role for e in events] == [Role.VIEWER, Role.STREAMER, Role.MODERATOR, Role.VIEWER]


async def test_the_real_captures_stream_through_without_harm(
    tls: Tls, source_cfg: Callable[..., BilibiliSource]
) -> None:
    from tests.sources.bilibili.test_commands import SAMPLES

    cmds = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]
    async with running(tls, source_cfg()) as run:
        for i in range(0, len(cmds), 10):
            await run.server.send(cmds[i : i + 10], protover=3)
        await run.server.send([danmu("最后一条")])
        events = await run.wait_for(4 + 5 + 1)
        assert events[-1].text == "最后一条"
        assert sum(e.kind == EventKind.BAN for e in events) == 5
        # Two captures have placeholder protobuf fields ("..."): the library cannot read those frames, and
        # they are skipped and counted without dropping the connection.
        assert run.source.connects == 1 and run.source.reconnect_reasons == []
        assert run.source.drops["bad_frame"] >= 1


async def test_follows_shares_entries_and_going_live_only_with_templates(
    tls: Tls, source_cfg: Callable[..., BilibiliSource]
) -> None:
    templates = {"follow_template": "感谢{uname}的关注", "live_template": "开播啦", "offline_template": "下播了"}
    async with running(tls, source_cfg(**templates)) as run:
        live = {"cmd": "LIVE", "roomid": 424242}
        await run.server.send([interact_v2(1), interact_v2(2), interact_v2(3), live, live, {"cmd": "PREPARING"}])
        await run.server.send([danmu("最后一条")])
        follow, went_live, went_off, last = await run.wait_for(4)
        assert (follow.kind, follow.text, follow.uid) == (EventKind.SYSTEM, "感谢路人的关注", 8)
        assert follow.role == Role.VIEWER
        assert (went_live.text, went_live.role) == ("开播啦", Role.STREAMER)  # two LIVE copies: said once
        assert went_off.text == "下播了" and last.text == "最后一条"
        assert run.source.ignored >= 2  # the entry and the share: no template


async def test_server_closing_the_socket_reconnects_within_the_backoff(
    tls: Tls, source_cfg: Callable[..., BilibiliSource], caplog: pytest.LogCaptureFixture
) -> None:
    async with running(tls, source_cfg()) as run:
        t0 = time.monotonic()
        await run.server.close_all()
        await run.connected(times=2)
        assert time.monotonic() - t0 < 3.0
        await run.server.send([danmu("回来了")])
        assert (await run.wait_for(1))[-1].text == "回来了"
        assert run.source.reconnect_reasons == ["the server closed the connection"]


async def test_a_silent_connection_is_dropped_and_remade(tls: Tls, source_cfg: Callable[..., BilibiliSource]) -> None:
    async with running(tls, source_cfg(silent_after_s=1.5)) as run:
        run.server.answer_heartbeats = False
        await run.connected(times=2, timeout=10)
        assert run.source.reconnect_reasons[0].startswith("nothing received for")


@pytest.mark.parametrize(
    "frame",
    [
        pack(OP_COMMAND, b'{"cmd": "DANMU_MSG", "info": [')[:-5],  # truncated
        HEADER.pack(10_000_000, 16, 0, OP_COMMAND, 1) + b"{}",  # length says 10 MB
        HEADER.pack(20, 16, 0, OP_COMMAND, 1) + b'{"cmd":"X","data":{}}',  # length shorter than the body
        pack(OP_COMMAND, b"\xff\xfe not json"),
        pack(OP_COMMAND, b"[1, 2, 3]"),
        b"\x00\x01",  # not even a header
        pack(OP_COMMAND, b"\x00" * 64, protover=2),  # zlib: the library asked for brotli and cannot read it
    ],
    ids=["truncated", "oversized", "wrong-length", "not-json", "json-array", "no-header", "zlib"],
)
async def test_bad_frames_never_kill_the_source(
    tls: Tls, source_cfg: Callable[..., BilibiliSource], frame: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running(tls, source_cfg()) as run:
        await run.server.send_raw(frame)
        await asyncio.sleep(0.3)
        await run.server.connected.wait()
        await asyncio.sleep(0.2)
        await run.server.send([danmu("还活着")])
        assert (await run.wait_for(1))[-1].text == "还活着"
        ours = [
            r
            for r in caplog.records
            if r.name.startswith("bot.")
            and r.levelno >= logging.WARNING
            and "WITHOUT a login" not in r.getMessage()
            and "!!!" not in r.getMessage()
            and "masked" not in r.getMessage()
            and "cannot work" not in r.getMessage()
        ]
        assert len(ours) <= 1, [r.getMessage() for r in ours]  # at most one line, saying what was skipped
        assert run.source.connects == 1  # the connection survived it


async def test_a_flood_never_stalls_the_loop_and_overflow_is_counted(
    tls: Tls, source_cfg: Callable[..., BilibiliSource]
) -> None:
    async with running(tls, source_cfg(handoff_size=200), consume=False) as run:
        events = run.source.events()
        first = asyncio.create_task(events.__anext__())
        await run.connected()
        lags: list[float] = []
        busy: list[float] = []

        async def watch_loop() -> None:
            """Each 5 ms tick's lateness, and the CPU the loop's thread spent in it: the loop's own work. On
            a loaded 2-core machine the lateness also counts time the process waited for a core."""
            while True:
                t, cpu = time.monotonic(), time.thread_time()
                await asyncio.sleep(0.005)
                lags.append(time.monotonic() - t - 0.005)
                busy.append(time.thread_time() - cpu)

        # 1000 messages a second for 10 s, in 20 packets of 50 per second. Packed (brotli) beforehand: the
        # fake server shares this loop, and compressing on it would be counted as the bot's stall.
        packets = [pack_commands([danmu(f"刷屏{n + i}", uid=n + i) for i in range(50)]) for n in range(0, 10_000, 50)]
        watcher = asyncio.create_task(watch_loop())
        sent = 0
        t0 = time.monotonic()
        for k, packet in enumerate(packets):
            await run.server.send_raw(packet)
            sent += 50
            await asyncio.sleep(max(0.0, t0 + (k + 1) * 0.05 - time.monotonic()))
        await asyncio.sleep(0.5)
        watcher.cancel()
        got = 1
        await first
        while True:  # the consumer was asleep: what fit is waiting, the rest was dropped and counted
            try:
                await asyncio.wait_for(events.__anext__(), 0.05)
            except asyncio.TimeoutError:
                break
            got += 1
        await events.aclose()
        assert sent == 10_000
        assert got + run.source.drops["source_overflow"] == sent
        assert run.source.drops["source_overflow"] > 0
        stalls = f"the loop worked {max(busy) * 1000:.0f} ms in one tick, late by up to {max(lags) * 1000:.0f} ms"
        assert max(busy) < 0.05, stalls


async def test_credentials_never_reach_a_log_line(
    tls: Tls,
    source_cfg: Callable[..., BilibiliSource],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {
        "BILIBILI_SESSDATA": "sess-SECRET-1a2b",
        "BILIBILI_BILI_JCT": "jct-SECRET-3c4d",
        "BILIBILI_BUVID3": "buvid-SECRET-5e6f",
        "BILIBILI_DEDEUSERID": "4242424242",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    async with running(tls, source_cfg()) as run:
        assert run.server.auths[0]["uid"] == 4242424242 and run.server.auths[0]["buvid"] == secrets["BILIBILI_BUVID3"]
        await run.server.send([danmu("hi")])
        await run.wait_for(1)
        await run.server.close_all()
        await run.connected(times=2)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records
    for v in secrets.values():
        assert v not in text
    assert "WITHOUT a login" not in text


def test_heartbeat_reply_is_a_big_endian_u32() -> None:
    # The fake's heartbeat reply is the shape the library reads (protover 1, op 3, u32 popularity).
    frame = pack(3, struct.pack(">I", 7), 1)
    assert HEADER.unpack(frame[:16])[2:4] == (1, 3) and struct.unpack(">I", frame[16:])[0] == 7


# -- the whole daemon, fed by the fake live server -------------------------------------------------------


def super_chat(sc_id: int | str, text: str, uid: int = 3, cmd: str = "SUPER_CHAT_MESSAGE") -> dict[str, Any]:
    return {
        "cmd": cmd,
        "data": {"id": sc_id, "uid": uid, "price": 30, "message": text, "user_info": {"uname": "金主"}},
    }


def recall(recall_type: int, target: int) -> dict[str, Any]:
    return {"cmd": "RECALL_DANMU_MSG", "data": {"recall_type": recall_type, "target_id": target}}


@asynccontextmanager
async def live_daemon(tls: Tls, tmp_path: Path, **source: Any) -> AsyncIterator[tuple[FakeBilibiliServer, Daemon]]:
    """The real daemon reading the fake room, speaking with a fake engine that takes 1 s per message (so
    what arrives meanwhile waits in the queue) into a recording sink."""
    server = await start_server(tls)
    cfg = parse_config(
        {
            "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": ZH_TEXT}],
            "source": {"type": "bilibili", "room_id": 4242, **source},
            "output": {"type": "null"},
            "http": {"enabled": False},
            "state_dir": str(tmp_path / "state"),
        },
        tmp_path / "config.yaml",
    )
    assert isinstance(cfg.source, BilibiliSource)
    from bot.sources.bilibili.fake_server import loopback_session

    bili = BilibiliChatSource(
        cfg.source,
        session_factory=lambda: loopback_session(server.port, tls[1]),
        backoff=Backoff(base_s=0.05, cap_s=0.2, stable_s=60),
    )
    daemon = Daemon(cfg, bili, lambda: FakeSynthesizer(voices=["zh"], delay_s=1.0), RecordingSink())
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: daemon.ready, 30, "the daemon to be ready")
        yield server, daemon
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
        await server.stop()


def spoken(daemon: Daemon) -> list[str]:
    sink = daemon.sink
    assert isinstance(sink, RecordingSink)
    return [u.request.text for u in sink.played]


async def test_paid_events_are_read_once_and_withdrawn_ones_not_at_all(tls: Tls, tmp_path: Path) -> None:
    templates = {
        "gift_template": "谢谢{uname}送的{count}个{gift}，{yuan}元",
        "guard_template": "感谢{uname}{action}{role}",
        "gift_merge_s": 0.5,
    }
    async with live_daemon(tls, tmp_path, **templates) as (server, daemon):
        await server.send([danmu("先说这一句", uid=1)])
        synth = daemon.worker.synthesizer
        assert isinstance(synth, FakeSynthesizer)
        await until(lambda: bool(synth.calls), 10, "the first message in synthesis")
        v1 = gift(5, total=500)
        v1["data"].update(giftName="小花花", tid="1733-abc")  # what v2_gift() encodes, as SEND_GIFT
        await server.send(
            [
                super_chat(77, "醒目留言一"),
                super_chat("77", "醒目留言一", cmd="SUPER_CHAT_MESSAGE_JPN"),  # its translated twin
                super_chat(78, "被删掉的醒目留言"),
                {"cmd": "SUPER_CHAT_MESSAGE_DELETE", "data": {"ids": [78]}, "roomid": 4242},
                danmu("撤回这条", uid=9, dmid=111),
                danmu("留下这条", uid=9, dmid=112),
                recall(1, 111),
                danmu("整个人被撤回", uid=10, dmid=113),
                recall(2, 10),
                danmu("参与天选", uid=11, lottery=2),
                v1,
                v2_gift(),  # the same gift as protobuf: same tid
                {"cmd": "SEND_GIFT_V2", "data": {"pb": v2_gift(tid="t-2")["data"]["pb"][:-8]}},  # truncated
                {"cmd": "SEND_GIFT_V2", "data": {"pb": base64.b64encode(b"\x50\x05").decode()}},  # gift_list a varint
                {"cmd": "GUARD_BUY", "data": {"uid": 5, "username": "舰长大人", "guard_level": 3, "price": 198000}},
                {
                    "cmd": "USER_TOAST_MSG",
                    "data": {"uid": 5, "username": "舰长大人", "guard_level": 3, "price": 198000, "op_type": 2},
                },
            ]
        )
        await until(lambda: any("续费" in t for t in spoken(daemon)), 30, "the guard's thanks")
        await server.send([super_chat(77, "醒目留言一")])  # a replay after a reconnect
        await server.send([danmu("最后一句", uid=1)])
        await until(lambda: "最后一句" in spoken(daemon), 30, "the last message")
        said = spoken(daemon)
        source = daemon.source
        assert isinstance(source, BilibiliChatSource)
    assert sum("醒目留言一" in t for t in said) == 1, said
    assert not any("被删掉" in t or "撤回这条" in t or "整个人" in t or "天选" in t for t in said), said
    assert "留下这条" in " ".join(said)
    (thanks,) = [t for t in said if t.startswith("谢谢")]
    assert thanks.endswith("送的五个小花花，零点五元"), thanks  # as normalised for speech
    (guard,) = [t for t in said if "舰长" in t and "感谢" in t]
    assert guard.endswith("续费舰长"), guard
    assert source.drops["duplicate_paid"] == 3  # the JPN twin, the replay, the gift's V2 copy (the toast folds)
    assert source.drops["lottery"] == 1 and source.drops["bad_gift_v2"] == 2
    assert daemon.ledger.drops["recalled"] == 3
    assert source.connects == 1


async def test_closing_a_connection_whose_library_task_ignores_its_cancel_is_bounded(
    source_cfg: Callable[..., BilibiliSource],
) -> None:
    """The supervisor's close of one connection never hangs on the library's task (which would leave the
    chat silently dead): it waits CLOSE_S for the cancel to take, then goes on."""
    from bot.sources.bilibili.source import CLOSE_S, _RoomConnection

    release = asyncio.Event()

    async def stubborn() -> None:  # ignores every cancel until the test releases it
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    connection = _RoomConnection(BilibiliChatSource(source_cfg()), heard=lambda: None)
    connection._conn = task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    closing = asyncio.create_task(connection.close())
    try:
        done, _ = await asyncio.wait({closing}, timeout=CLOSE_S + 3)  # waits without cancelling it
        assert closing in done, "close is still waiting for the library's task"
    finally:
        release.set()
        await asyncio.gather(task, closing)
