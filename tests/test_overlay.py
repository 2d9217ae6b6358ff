"""The OBS captions overlay in a real browser, against the real daemon: a replay of chat, the fake engine,
the null output playing in real time. Headless Chromium (Debian's) loads /overlay without a token; while
a message is heard the page shows it (DOM and pixels), once it has ended the page is empty and
transparent. OVERLAY_SCREENSHOT=path keeps the picture for a human to look at."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import aiohttp
from PIL import Image

from bot.captions import Captions
from bot.config import HttpConfig, parse_config
from bot.events import ChatEvent, SpeechRequest
from bot.http_api import HttpApi
from bot.pipeline import Daemon
from bot.playback import Finished, Hearing, Started
from bot.sinks import make_sink
from bot.sources import make_source
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.testing.voice_clips import ZH_REF
from tests.browser import Browser

LINE_SHOWN = "!document.getElementById('line').hidden"


def opaque_pixels(png: bytes) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    return sum(1 for alpha in image.getchannel("A").getdata() if alpha > 0)


async def test_overlay_shows_what_is_heard_and_nothing_after(tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"t": 0, "uid": 7, "uname": "小明", "text": "主播好厉害"}) + "\n", encoding="utf-8")
    cfg = parse_config(
        {
            "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": "你好"}],
            "source": {"type": "replay", "path": str(chat)},
            "output": {"type": "null", "realtime": True},
            "state_dir": str(tmp_path / "state"),
        },
        tmp_path / "config.yaml",
    )
    synth = FakeSynthesizer(voices=["zh"], seconds_per_char=0.4)  # heard for about 3 s
    daemon = Daemon(cfg, make_source(cfg.source), lambda: synth, make_sink(cfg.output))
    api = HttpApi(daemon, HttpConfig(port=0), token="t" * 32)
    await api.start()
    shot = Path(os.environ.get("OVERLAY_SCREENSHOT", tmp_path / "overlay.png"))
    try:
        async with Browser(800, 300) as page:
            await page.open(f"http://127.0.0.1:{api.port}/overlay?size=48&bg=%23ff0000&position=middle")
            await page.until("document.readyState === 'complete'")
            assert await page.evaluate(LINE_SHOWN) is False and opaque_pixels(await page.screenshot()) == 0
            run = asyncio.create_task(daemon.run())  # the replay starts: 小明's message is read
            await page.until(LINE_SHOWN)
            assert daemon.hearing.current is not None  # the page follows the output's report
            assert await page.evaluate("document.getElementById('line').textContent") == "小明:主播好厉害"
            heard = await page.screenshot()
            shot.write_bytes(heard)
            await run  # the replay is over once it has been heard to the end
            await page.until(f"!({LINE_SHOWN})")
            gone = await page.screenshot()
    finally:
        await api.stop()
    assert opaque_pixels(heard) > 10_000  # the red box with the line in it
    assert opaque_pixels(gone) == 0  # nothing at all over the stream


async def test_the_event_stream_is_token_free_bounded_and_follows_playback(tmp_path: Path) -> None:
    hearing = Hearing()
    request = SpeechRequest(text="你好", voice="zh", event=ChatEvent(text="你好", uname="<b>x</b>"), seq=3)
    hearing.update(Started(request))
    captions = Captions(hearing, max_pages=1)
    first = captions.subscribe()
    assert first is not None and captions.subscribe() is None  # bounded
    assert first.get_nowait() == {"type": "show", "seq": 3, "uname": "<b>x</b>", "text": "你好"}  # on connect
    for _ in range(100):  # a page that never reads keeps only the newest
        captions.on_playback(Finished(request))
    assert first.qsize() == 32
    captions.close()
    assert (await asyncio.wait_for(_last(first), 1)) is None
    captions.unsubscribe(first)
    assert captions.pages == 0

    cfg = parse_config(
        {
            "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": "你好"}],
            "source": {"type": "console"},
            "output": {"type": "null"},
            "state_dir": str(tmp_path / "state"),
        },
        tmp_path / "config.yaml",
    )
    daemon = Daemon(cfg, make_source(cfg.source), lambda: FakeSynthesizer(voices=["zh"]), make_sink(cfg.output))
    api = HttpApi(daemon, HttpConfig(port=0), token="t" * 32)
    await api.start()
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{api.port}"
            async with http.get(base + "/overlay") as r:
                assert r.status == 200 and "EventSource" in await r.text()
            async with http.get(base + "/overlay/events") as r:
                assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
                assert await r.content.readline() == b"retry: 2000\n"
                api.captions.on_playback(Started(request))
                api.captions.on_playback(Finished(request))
                lines = [await r.content.readline() for _ in range(5)]
                assert json.loads(lines[1].removeprefix(b"data: "))["text"] == "你好"
                assert json.loads(lines[3].removeprefix(b"data: ")) == {"type": "hide", "seq": 3, "ending": "complete"}
            async with http.get(base + "/api/status") as r:
                assert r.status == 401  # the rest still needs the token
    finally:
        await api.stop()


async def _last(queue: asyncio.Queue[object]) -> object:
    item: object = "never"
    while not queue.empty():
        item = await queue.get()
    return item

