from __future__ import annotations

import asyncio
import time

from bot.events import ChatEvent, SpeechRequest
from bot.speech_queue import SpeechQueue


def req(text: str, age: float = 0.0) -> SpeechRequest:
    return SpeechRequest(text=text, voice="v", event=ChatEvent(text=text, received_at=time.monotonic() - age))


def test_full_queue_evicts_the_oldest_and_counts_it() -> None:
    async def go() -> list[str]:
        q = SpeechQueue(max_size=2, max_age_s=60)
        for t in "abc":
            q.put(req(t))
        q.close()
        assert q.drops["queue_full"] == 1
        out = []
        while (item := await q.get()) is not None:
            out.append(item.text)
        return out

    assert asyncio.run(go()) == ["b", "c"]


def test_stale_items_are_dropped_unspoken() -> None:
    async def go() -> tuple[list[str], int]:
        q = SpeechQueue(max_size=5, max_age_s=10)
        q.put(req("old", age=11))
        q.put(req("new"))
        q.close()
        got = [i.text for i in [await q.get(), await q.get()] if i is not None]
        return got, q.drops["stale"]

    assert asyncio.run(go()) == (["new"], 1)


def test_get_waits_for_put_and_close_ends_it() -> None:
    async def go() -> list[str | None]:
        q = SpeechQueue(max_size=5, max_age_s=10)
        waiter = asyncio.create_task(q.get())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        q.put(req("x"))
        first = await waiter
        closer = asyncio.create_task(q.get())
        await asyncio.sleep(0.01)
        q.close()
        return [first.text if first else None, await closer]

    assert asyncio.run(go()) == ["x", None]


def test_clear_counts_by_reason() -> None:
    q = SpeechQueue(max_size=5, max_age_s=10)
    q.put(req("a"))
    q.put(req("b"))
    assert q.clear("shutting_down") == 2 and q.drops["shutting_down"] == 2 and len(q) == 0
