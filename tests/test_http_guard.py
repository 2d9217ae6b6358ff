"""The HTTP side's defences against local clients and foreign pages, against a running daemon (fake engine):
idle and slowly-sent requests closed, connections capped, Host checked (DNS rebinding), malformed requests
logged once without a traceback, a shared token file refused, API bodies typed strictly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.config import HttpConfig
from bot.errors import UserError
from bot.http_api import HttpApi, load_token
from bot.pipeline import Daemon
from bot.testing.fake_synthesizer import FakeSynthesizer
from tests.test_http_api import AUTH, TOKEN, OpenSource
from tests.test_pipeline import RecordingSink, config

Check = Callable[[HttpApi, Daemon], Awaitable[None]]


def serve(tmp_path: Path, cfg: HttpConfig, check: Check) -> None:
    async def main() -> None:
        fake = FakeSynthesizer(voices=["zh"])
        daemon = Daemon(config(state_dir=str(tmp_path / "state")), OpenSource(), lambda: fake, RecordingSink())
        api = HttpApi(daemon, cfg, token=TOKEN)
        await api.start()
        run = asyncio.create_task(daemon.run())
        try:
            while not daemon.ready:
                await asyncio.sleep(0.02)
            await check(api, daemon)
        finally:
            daemon.request_stop()
            await run
            await api.stop()

    asyncio.run(main())


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        while await asyncio.wait_for(reader.read(1024), seconds):
            pass
    except asyncio.TimeoutError:
        return False
    return True


def test_idle_connections_and_slowly_sent_headers_are_closed(tmp_path: Path) -> None:
    async def check(api: HttpApi, daemon: Daemon) -> None:
        slow_r, slow_w = await asyncio.open_connection("127.0.0.1", api.port)
        slow_w.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and the rest never comes
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", api.port)
        idle_w.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # answered, then kept alive
        assert await closed_within(slow_r, 10.0)
        assert await closed_within(idle_r, 10.0)
        for w in (slow_w, idle_w):
            w.close()

    serve(tmp_path, HttpConfig(port=0, idle_timeout_s=1), check)


def test_connections_past_the_cap_get_503_and_the_server_goes_on(tmp_path: Path) -> None:
    async def check(api: HttpApi, daemon: Daemon) -> None:
        held = [await asyncio.open_connection("127.0.0.1", api.port) for _ in range(3)]
        await asyncio.sleep(0.1)
        r, w = await asyncio.open_connection("127.0.0.1", api.port)
        w.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await asyncio.wait_for(r.read(), 5.0)).startswith(b"HTTP/1.1 503")
        w.close()
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{api.port}/healthz") as resp:
            assert resp.status == 200
        assert api.protocols is not None and api.protocols.refused == 1

    serve(tmp_path, HttpConfig(port=0, max_connections=3), check)


def test_a_foreign_host_is_refused_on_every_path(tmp_path: Path) -> None:
    async def check(api: HttpApi, daemon: Daemon) -> None:
        base = f"http://127.0.0.1:{api.port}"
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/healthz", "/api/status", "/metrics"):
                async with http.get(base + path, headers={**AUTH, "Host": f"rebound.example:{api.port}"}) as r:
                    assert r.status == 421, path
                    assert "http.allowed_hosts" in (await r.json())["error"]
            for host in (f"127.0.0.1:{api.port}", f"localhost:{api.port}", "[::1]", "tts.lan", "TTS.lan.:80"):
                async with http.get(base + "/healthz", headers={"Host": host}) as r:
                    assert r.status == 200, host
            async with http.get(base + "/api/status", headers=AUTH) as r:
                assert r.status == 200

    serve(tmp_path, HttpConfig(port=0, allowed_hosts=["tts.lan"]), check)


def test_malformed_requests_are_logged_once_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def check(api: HttpApi, daemon: Daemon) -> None:
        for _ in range(20):
            r, w = await asyncio.open_connection("127.0.0.1", api.port)
            w.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n")
            assert b" 400 " in (await asyncio.wait_for(r.read(), 5.0)).split(b"\r\n")[0]
            w.close()

    with caplog.at_level(logging.DEBUG):
        serve(tmp_path, HttpConfig(port=0), check)
    noted = [r for r in caplog.records if "request" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len(noted) == 1, [r.getMessage() for r in noted]
    assert noted[0].exc_info is None
    assert "malformed request from 127.0.0.1: BadHttpMessage 'Invalid header token'" in noted[0].getMessage()


def test_a_token_file_others_can_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISHOWTTS_HTTP_TOKEN", raising=False)
    token = tmp_path / "http-token"
    token.write_text("shared-secret\n", encoding="utf-8")
    token.chmod(0o644)
    with pytest.raises(UserError, match=r"^http-token: .* is readable by other users \(mode -rw-r--r--\).*chmod 600"):
        load_token(str(tmp_path))
    token.chmod(0o600)
    assert load_token(str(tmp_path)) == "shared-secret"


def test_api_bodies_are_typed_strictly(tmp_path: Path) -> None:
    async def check(api: HttpApi, daemon: Daemon) -> None:
        async with aiohttp.ClientSession() as http:
            for body in ('{"uid": true}', '{"uid": "1"}', '{"uid": 1.0}', '{"uid": 7, "seconds": "60"}'):
                async with http.post(f"http://127.0.0.1:{api.port}/api/mute", data=body, headers=AUTH) as r:
                    assert r.status == 400, body
            async with http.post(f"http://127.0.0.1:{api.port}/api/say", data='{"text": 5}', headers=AUTH) as r:
                assert r.status == 400
            async with http.post(
                f"http://127.0.0.1:{api.port}/api/mute", data='{"uid": 7, "seconds": 60}', headers=AUTH
            ) as r:
                assert r.status == 200
        assert list(daemon.moderator.state.mutes) == [7]

    serve(tmp_path, HttpConfig(port=0), check)
