"""A local stand-in for Bilibili's live servers, for tests and offline demos: the HTTP endpoints
bilibili-api-python calls before connecting, and the live websocket protocol.

Wire format: every packet starts with a 16-byte big-endian header (total length u32, header length u16
= 16, protocol version u16, operation u32, sequence u32). Operations: 7 auth -> 8 auth reply, 2 heartbeat
-> 3 heartbeat reply (a u32 popularity), 5 commands. Protocol versions for commands: 0 plain JSON, 2 zlib
and 3 brotli of several inner packets. It serves one TLS port for every host name; the client is pointed
at it by a resolver that maps all names there (see `loopback_session`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import struct
import zlib
from collections.abc import Iterable
from typing import Any

import aiohttp
import brotli
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IHHII")
OP_HEARTBEAT, OP_HEARTBEAT_REPLY, OP_COMMAND, OP_AUTH, OP_AUTH_REPLY = 2, 3, 5, 7, 8


def pack(op: int, body: bytes, protover: int = 0) -> bytes:
    return HEADER.pack(HEADER.size + len(body), HEADER.size, protover, op, 1) + body


def pack_commands(cmds: Iterable[dict[str, Any]], protover: int = 3) -> bytes:
    """Several commands in one packet: plain (0, one packet each, concatenated), zlib (2) or brotli (3)."""
    inner = b"".join(pack(OP_COMMAND, json.dumps(c, ensure_ascii=False).encode()) for c in cmds)
    if protover == 0:
        return inner
    body = zlib.compress(inner) if protover == 2 else brotli.compress(inner)
    return pack(OP_COMMAND, body, protover)


def _ok(data: Any) -> web.Response:
    return web.json_response({"code": 0, "message": "0", "ttl": 1, "data": data})


class FakeBilibiliServer:
    def __init__(
        self, ssl_context: ssl.SSLContext, room_id: int = 4242, real_room_id: int = 424242, owner_uid: int = 777
    ) -> None:
        self.ssl_context = ssl_context
        self.room_id = room_id
        self.real_room_id = real_room_id
        self.owner_uid = owner_uid
        self.answer_heartbeats = True
        self.reject_connections = False
        self.port = 0
        self.auths: list[dict[str, Any]] = []
        self.http_calls: list[str] = []
        self.heartbeats = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/sub", self._ws)
        app.router.add_get("/xlive/web-room/v1/index/getRoomPlayInfo", self._room_play_info)
        app.router.add_get("/xlive/web-room/v1/index/getDanmuInfo", self._danmu_info)
        app.router.add_get("/x/web-interface/nav", self._nav)
        app.router.add_get("/x/frontend/finger/spi", self._spi)
        app.router.add_route("*", "/{tail:.*}", self._anything)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        await self.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def clients(self) -> int:
        return len(self._sockets)

    # -- HTTP -----------------------------------------------------------------------------------------------

    async def _room_play_info(self, request: web.Request) -> web.Response:
        self.http_calls.append(request.path)
        if request.query.get("room_id") not in (str(self.room_id), str(self.real_room_id)):
            return web.json_response({"code": 19002000, "message": "获取初始化数据失败", "data": None})
        return _ok({"room_id": self.real_room_id, "short_id": self.room_id, "uid": self.owner_uid, "live_status": 1})

    async def _danmu_info(self, request: web.Request) -> web.Response:
        self.http_calls.append(request.path)
        host = {"host": "broadcastlv.chat.bilibili.com", "port": 2243, "wss_port": 443, "ws_port": 2244}
        return _ok({"token": "fake-token", "host_list": [host]})

    async def _nav(self, request: web.Request) -> web.Response:
        self.http_calls.append(request.path)
        wbi = {
            "img_url": "https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png",
            "sub_url": "https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png",
        }
        return web.json_response({"code": -101, "message": "账号未登录", "ttl": 1, "data": {"wbi_img": wbi}})

    async def _spi(self, request: web.Request) -> web.Response:
        self.http_calls.append(request.path)
        return _ok({"b_3": "FAKE-BUVID3-infoc", "b_4": "FAKE-BUVID4"})

    async def _anything(self, request: web.Request) -> web.Response:
        self.http_calls.append(request.path)
        return _ok({})

    # -- websocket ------------------------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.reject_connections:
            return web.Response(status=503)
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < HEADER.size:
                    continue
                _, _, _, op, _ = HEADER.unpack(msg.data[: HEADER.size])
                body = msg.data[HEADER.size :]
                if op == OP_AUTH:
                    self.auths.append(json.loads(body))
                    await ws.send_bytes(pack(OP_AUTH_REPLY, b'{"code":0}', 1))
                    self.connected.set()
                elif op == OP_HEARTBEAT:
                    self.heartbeats += 1
                    if self.answer_heartbeats:
                        await ws.send_bytes(pack(OP_HEARTBEAT_REPLY, struct.pack(">I", 12345), 1))
        finally:
            self._sockets.discard(ws)
        return ws

    async def send(self, cmds: Iterable[dict[str, Any]], protover: int = 3) -> None:
        await self.send_raw(pack_commands(cmds, protover))

    async def send_raw(self, data: bytes) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_bytes(data)

    async def close_all(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        self.connected.clear()


class LoopbackResolver(AbstractResolver):
    """Every host name resolves to the fake server's port on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self.port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


def loopback_session(port: int, client_ssl: ssl.SSLContext) -> aiohttp.ClientSession:
    """An aiohttp session for bilibili-api-python's `set_session` that reaches the fake server, trusting
    only its test certificate authority."""
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver(port), ssl=client_ssl)
    return aiohttp.ClientSession(connector=connector)
