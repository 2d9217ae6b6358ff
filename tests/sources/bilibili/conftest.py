"""A fake Bilibili live server with real TLS (a throwaway CA) and the real client pointed at it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trustme

from bot.sources.bilibili import BilibiliSource
from bot.sources.bilibili.fake_server import FakeBilibiliServer, loopback_session

HOSTS = [
    "api.live.bilibili.com",
    "api.bilibili.com",
    "live-trace.bilibili.com",
    "broadcastlv.chat.bilibili.com",
    "*.bilibili.com",
    "*.hdslb.com",
    "i0.hdslb.com",
    "www.bilibili.com",
    "*.chat.bilibili.com",
]


@pytest.fixture(scope="session")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*HOSTS).configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


@pytest.fixture
def source_cfg() -> Callable[..., BilibiliSource]:
    def make(**over: Any) -> BilibiliSource:
        return BilibiliSource.model_validate({"type": "bilibili", "room_id": 4242, **over})

    return make


@pytest.fixture
def session_factory(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Callable[[int], Callable[[], Any]]:
    return lambda port: lambda: loopback_session(port, tls[1])


async def start_server(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> FakeBilibiliServer:
    server = FakeBilibiliServer(tls[0])
    await server.start()
    return server


__all__ = ["AsyncIterator", "start_server"]
