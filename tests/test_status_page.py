"""The status page in a real browser: headless Chromium (Debian's) loads it with the token in the
fragment, its script fetches the API and follows the playback events, and the rendered DOM shows the
daemon's state — who is heard while they are heard, nobody once that ended. A screenshot is kept for a
human to look at (STATUS_PAGE_SCREENSHOT=path; docs/status-page.png was taken this way)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bot.config import HttpConfig
from bot.control import Skip
from bot.http_api import HttpApi
from bot.pipeline import Daemon
from bot.sinks import make_sink
from bot.sinks.null import NullOutput
from bot.testing.fake_synthesizer import FakeSynthesizer
from tests.browser import Browser
from tests.test_http_api import TOKEN, OpenSource
from tests.test_pipeline import config

TEXT = "document.getElementById('{}').textContent"


async def test_status_page_renders_live_state_in_headless_chromium(tmp_path: Path) -> None:
    shot = Path(os.environ.get("STATUS_PAGE_SCREENSHOT", tmp_path / "status.png"))
    daemon = Daemon(
        config(state_dir=str(tmp_path / "state")),
        OpenSource(),
        lambda: FakeSynthesizer(voices=["zh"], seconds_per_char=15.0),  # "你好": heard for 30 s
        make_sink(NullOutput(type="null", realtime=True)),
    )
    api = HttpApi(daemon, HttpConfig(port=0), token=TOKEN)
    await api.start()
    run = asyncio.create_task(daemon.run())
    base = f"http://127.0.0.1:{api.port}/"
    try:
        while daemon.hearing.current is None:
            await asyncio.sleep(0.02)
        await daemon.moderator.mute(42, "捣乱的", None, by="test")
        async with Browser(1100, 760) as page:
            await page.open(base + f"#token={TOKEN}")
            await page.until(f"{TEXT.format('health')} === 'healthy'")
            await page.until(f"{TEXT.format('speaking')} === '小明: 你好'")  # what is heard, as it is heard
            await page.until(f"{TEXT.format('mutes')}.includes('捣乱的')")
            assert "unspeakable" in await page.evaluate(TEXT.format("drops"))
            assert await page.evaluate(TEXT.format("voices")) == "zh (default)"
            shot.write_bytes(await page.screenshot())
            daemon.controller.apply(Skip())
            await page.until(f"{TEXT.format('speaking')} === '—'")  # nothing heard: nothing shown
        async with Browser() as page:  # a fresh browser: no token kept from before
            await page.open(base)
            await page.until(f"{TEXT.format('message')}.startsWith('open this page as /#token=')")
            hint = await page.evaluate(TEXT.format("message"))
            assert hint.endswith(f"the token is in {tmp_path / 'state' / 'http-token'}")
    finally:
        daemon.request_stop()
        await run
        await api.stop()
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:4] == b"\x89PNG"
