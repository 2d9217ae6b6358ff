"""The status page in a real browser: headless Chromium (Debian's) loads it with the token in the
fragment, its script fetches the API, and the rendered DOM shows the daemon's state. A screenshot is kept
for a human to look at (docs/status-page.png was taken this way)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.config import HttpConfig
from bot.engine.fake import FakeSynthesizer
from bot.http_api import HttpApi
from bot.pipeline import Daemon
from tests.test_http_api import TOKEN, OpenSource
from tests.test_pipeline import RecordingSink, config


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is missing: bot/setup.sh installs Debian's chromium package for the tests")
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    return subprocess.run(
        [exe, *flags, "--virtual-time-budget=4000", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": os.environ.get("TMPDIR", "/tmp")},
    )


def test_status_page_renders_live_state_in_headless_chromium(tmp_path: Path) -> None:
    shot = Path(os.environ.get("STATUS_PAGE_SCREENSHOT", tmp_path / "status.png"))

    async def main() -> tuple[str, str]:
        daemon = Daemon(
            config(state_dir=str(tmp_path / "state")),
            OpenSource(),
            lambda: FakeSynthesizer(voices=["zh"]),
            RecordingSink(),
        )
        api = HttpApi(daemon, HttpConfig(port=0), token=TOKEN)
        await api.start()
        run = asyncio.create_task(daemon.run())
        try:
            while not daemon.stats.spoken:
                await asyncio.sleep(0.02)
            await daemon.moderator.mute(42, "捣乱的", None, by="test")
            url = f"http://127.0.0.1:{api.port}/#token={TOKEN}"
            dom = await asyncio.to_thread(chromium, "--dump-dom", url)
            picture = await asyncio.to_thread(chromium, f"--screenshot={shot}", "--window-size=1100,760", url)
            nothing = await asyncio.to_thread(chromium, "--dump-dom", f"http://127.0.0.1:{api.port}/")
            assert picture.returncode == 0, picture.stderr[-2000:]
            return dom.stdout, nothing.stdout
        finally:
            daemon.request_stop()
            await run
            await api.stop()

    dom, without_token = asyncio.run(main())
    assert 'id="health" class="badge ok">healthy<' in dom, dom[:3000]
    assert "小明: 你好" in dom  # what is speaking, fetched by the page's script
    assert "unspeakable" in dom and "捣乱的" in dom and "zh (default)" in dom
    assert "open this page as /#token=" in without_token
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:4] == b"\x89PNG"
