"""Headless Chromium (Debian's) driven over the DevTools protocol: for pages that keep a connection open
(the captions overlay's event stream), where `--dump-dom` would either dump before the first event or,
with virtual time, wait forever for the network to go idle. The test asks the live page what it shows,
as often as it likes, and takes screenshots (with a transparent background, as OBS composites it)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import tempfile
from types import TracebackType
from typing import Any

import aiohttp
import pytest


class Browser:
    def __init__(self, width: int = 800, height: int = 300) -> None:
        self.size = (width, height)
        self._ids = itertools.count(1)
        self._proc: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")

    async def __aenter__(self) -> Browser:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            pytest.fail("chromium is missing: bot/setup.sh installs Debian's chromium package for the tests")
        width, height = self.size
        self._proc = await asyncio.create_subprocess_exec(
            exe,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--remote-debugging-port=0",
            f"--user-data-dir={self._profile.name}",
            f"--window-size={width},{height}",
            "about:blank",
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": self._profile.name},
        )
        assert self._proc.stderr is not None
        port = None
        while port is None:
            line = await asyncio.wait_for(self._proc.stderr.readline(), 60)
            if not line:
                pytest.fail("chromium exited before it listened for DevTools")
            if m := re.search(rb"DevTools listening on ws://[^:]+:(\d+)/", line):
                port = int(m.group(1))
        self._http = aiohttp.ClientSession()
        async with self._http.get(f"http://127.0.0.1:{port}/json/list") as r:
            pages = [t for t in await r.json() if t["type"] == "page"]
        self._ws = await self._http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        await self.call("Page.enable")
        await self.call("Emulation.setDefaultBackgroundColorOverride", color={"r": 0, "g": 0, "b": 0, "a": 0})
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
        self._profile.cleanup()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        ident = next(self._ids)
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads((await asyncio.wait_for(self._ws.receive(), 30)).data)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        return (await self.call("Runtime.evaluate", expression=expression, returnByValue=True))["result"].get("value")

    async def until(self, expression: str, timeout_s: float = 20.0) -> None:
        """Wait until the page says `expression` is true (it follows the daemon at its own pace)."""
        for _ in range(int(timeout_s / 0.05)):
            if await self.evaluate(expression):
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"the page never got to {expression!r}")

    async def screenshot(self) -> bytes:
        return base64.b64decode((await self.call("Page.captureScreenshot", format="png"))["data"])
