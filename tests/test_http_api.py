"""The HTTP side against a running daemon (fake engine): auth, limits, control, metrics, and /healthz that
really flips when the GPU thread stalls."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import bot.health
from bot.config import HttpConfig
from bot.events import ChatEvent
from bot.http_api import HttpApi, load_token
from bot.pipeline import Daemon
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.worker import JobClock
from tests.test_pipeline import RecordingSink, config

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class OpenSource:
    """A live-like source: a few messages, then stays open until the daemon stops."""

    connected = True

    async def events(self) -> AsyncIterator[ChatEvent]:
        yield ChatEvent(text="你好", uid=5, uname="小明")
        yield ChatEvent(text="🦄", uid=6, uname="emoji")
        await asyncio.Event().wait()


Check = Callable[[aiohttp.ClientSession, str, Daemon], Awaitable[None]]


def serve(tmp_path: Path, check: Check, fake: FakeSynthesizer | None = None) -> None:
    async def main() -> None:
        daemon = Daemon(
            config(state_dir=str(tmp_path / "state")),
            OpenSource(),
            lambda: fake or FakeSynthesizer(voices=["zh"]),
            RecordingSink(),
        )
        api = HttpApi(daemon, HttpConfig(port=0, max_body_bytes=1024), token=TOKEN)
        await api.start()
        run = asyncio.create_task(daemon.run())
        try:
            for _ in range(100):
                if daemon.ready and daemon.ledger.spoken:
                    break
                await asyncio.sleep(0.02)
            async with aiohttp.ClientSession() as http:
                await check(http, f"http://127.0.0.1:{api.port}", daemon)
        finally:
            daemon.request_stop()
            await run
            await api.stop()

    asyncio.run(main())


def test_auth_is_required_and_compared(tmp_path: Path) -> None:
    async def check(http: aiohttp.ClientSession, base: str, daemon: Daemon) -> None:
        for path in ("/metrics", "/api/status", "/api/queue"):
            async with http.get(base + path) as r:
                assert r.status == 401 and (await r.json())["error"].startswith("missing")
            async with http.get(base + path, headers={"Authorization": "Bearer nope"}) as r:
                assert r.status == 403 and await r.json() == {"error": "wrong token"}
        async with http.post(base + "/api/skip", headers={"Authorization": "Basic " + TOKEN}) as r:
            assert r.status == 401
        async with http.get(base + "/healthz") as r:  # open, for the supervisor
            assert r.status == 200 and await r.json() == {"ok": True, "problems": []}
        async with http.get(base + "/") as r:  # the page holds no data itself
            assert r.status == 200 and "iShowTTS bot" in await r.text()

    serve(tmp_path, check)


def test_bad_requests_get_a_reason_never_a_traceback(tmp_path: Path) -> None:
    async def check(http: aiohttp.ClientSession, base: str, daemon: Daemon) -> None:
        async with http.post(base + "/api/say", headers=AUTH, data=b"x" * 5000) as r:
            assert r.status == 413 and (await r.json())["error"] == "request body larger than 1024 bytes"
        async with http.post(base + "/api/say", headers=AUTH, data=b"{not json") as r:
            body = await r.json()
            assert r.status == 400 and body["error"].startswith("body: Invalid JSON"), body
        async with http.post(base + "/api/mute", headers=AUTH, json={"uid": -3}) as r:
            assert r.status == 400 and (await r.json())["error"] == "uid: Input should be greater than 0"
        async with http.post(base + "/api/mute", headers=AUTH, json={"uid": 1, "extra": 1}) as r:
            assert r.status == 400 and "extra: Extra inputs are not permitted" in (await r.json())["error"]
        async with http.post(base + "/api/say", headers=AUTH, json={"text": "🦄🦄"}) as r:
            assert r.status == 422 and await r.json() == {"error": "not spoken: unspeakable"}
        async with http.post(base + "/api/command", headers=AUTH, json={"command": "dance"}) as r:
            assert r.status == 400 and await r.json() == {"ok": False, "reply": "unknown command 'dance'"}
        async with http.get(base + "/api/nothing", headers=AUTH) as r:
            assert r.status == 404 and "error" in await r.json()
        async with http.get(base + "/api/say", headers=AUTH) as r:
            assert r.status == 405

    serve(tmp_path, check)


def test_control_status_queue_and_metrics(tmp_path: Path) -> None:
    async def check(http: aiohttp.ClientSession, base: str, daemon: Daemon) -> None:
        async with http.post(base + "/api/say", headers=AUTH, json={"text": "测试一下"}) as r:
            assert r.status == 202 and (await r.json())["text"] == "测试一下"
        async with http.post(base + "/api/mute", headers=AUTH, json={"uid": 42, "seconds": 600}) as r:
            assert r.status == 200
            assert await r.json() == {"ok": True, "muted": 42, "reply": "muted 42 for 10m; 0 dropped"}
        async with http.post(base + "/api/command", headers=AUTH, json={"command": "pause"}) as r:
            assert await r.json() == {"ok": True, "reply": "paused after the current message"}
        async with http.post(base + "/api/skip", headers=AUTH) as r:
            assert await r.json() == {"skipped": False, "reply": "nothing was playing"}
        async with http.get(base + "/api/queue", headers=AUTH) as r:
            assert isinstance(await r.json(), list)
        async with http.get(base + "/api/status", headers=AUTH) as r:
            status = await r.json()
        assert status["paused"] and status["mutes"][0]["uid"] == 42 and status["voices"] == ["zh"]
        assert status["recent_drops"][0]["reason"] == "unspeakable"
        assert status["speaking"] is None and status["queued"] == 0  # idle: what is heard, not what was handed over
        async with http.get(base + "/metrics", headers=AUTH) as r:
            text = await r.text()
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'ishowtts_dropped_total{reason="unspeakable"} 1.0' in text
        assert "ishowtts_queue_depth " in text and "ishowtts_chat_to_audio_seconds_bucket" in text
        assert "ishowtts_real_time_factor_count" in text and "ishowtts_mutes 1.0" in text
        audit = (tmp_path / "state" / "audit.jsonl").read_text(encoding="utf-8")
        records = [json.loads(line) for line in audit.splitlines()]
        assert [r["verb"] for r in records] == ["mute", "pause", "skip"]  # HTTP commands: the chat path
        assert all(r.keys() == records[0].keys() for r in records)  # one shape of record
        assert records[0]["command"].endswith("mute 42 600.000s")
        assert "ishowtts_commands_total 3.0" in text

    serve(tmp_path, check)


def test_healthz_flips_to_503_when_the_gpu_thread_stalls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.health, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(bot.health, "GPU_STALE_S", 0.3)

    async def check(http: aiohttp.ClientSession, base: str, daemon: Daemon) -> None:
        async with http.get(base + "/healthz") as r:
            assert r.status == 200
        daemon.worker.clock = JobClock(floor_s=0.1, ceiling_s=0.1)
        stall = asyncio.ensure_future(daemon.worker.call(lambda: time.sleep(1.0)))  # past its bound: hung
        await asyncio.sleep(0.6)
        async with http.get(base + "/healthz") as r:
            body: dict[str, Any] = await r.json()
            assert r.status == 503 and body["problems"][0].startswith("GPU worker silent for")
        await stall
        await asyncio.sleep(0.2)
        async with http.get(base + "/healthz") as r:
            assert r.status == 200

    serve(tmp_path, check)


def test_token_from_env_or_generated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISHOWTTS_HTTP_TOKEN", "from-env")
    assert load_token(str(tmp_path)) == "from-env"
    monkeypatch.delenv("ISHOWTTS_HTTP_TOKEN")
    first = load_token(str(tmp_path))
    assert len(first) >= 32 and load_token(str(tmp_path)) == first
    assert (tmp_path / "http-token").stat().st_mode & 0o077 == 0
