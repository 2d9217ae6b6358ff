"""The priority queue: order, eviction, staleness, degrading under a flood, and exact drop accounting."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from bot.config import QueueConfig
from bot.events import ChatEvent, EventKind, Role, SpeechRequest
from bot.filters import priority_of
from bot.speech_queue import QueueMode, SpeechQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


def req(text: str, at: float | None = None, clock: Clock = CLOCK, nameless: str = "", **event: Any) -> SpeechRequest:
    ev = ChatEvent(text=text, received_at=clock.now if at is None else at, **event)
    return SpeechRequest(text=text, voice="v", event=ev, priority=priority_of(ev), nameless_text=nameless)


class CountedQueue(SpeechQueue):
    """The queue with its drops counted by reason, as the daemon's ledger counts them (its `on_drop`)."""

    def __init__(self, cfg: QueueConfig, **kwargs: Any) -> None:
        self.drops: Counter[str] = Counter()
        super().__init__(cfg, on_drop=lambda _item, reason: self.drops.update([reason]), **kwargs)


def queue(clock: Clock = CLOCK, on_mode: Any = None, **cfg: Any) -> CountedQueue:
    base: dict[str, Any] = {"names_off_at": None, "paid_only_at": None}
    return CountedQueue(QueueConfig(**{**base, **cfg}), clock=clock, on_mode=on_mode)


def drain(q: SpeechQueue) -> list[str]:
    return [r.text for r in q.take_ready(10_000)]


def test_most_urgent_first_and_first_come_first_served_within_a_priority() -> None:
    q = queue()
    q.put(req("viewer1"))
    q.put(req("medal", medal_level=3, home_medal=True))
    q.put(req("gift", kind=EventKind.GIFT))
    q.put(req("viewer2"))
    q.put(req("guard", guard_level=3))
    q.put(req("sc", kind=EventKind.SUPER_CHAT))
    q.put(req("mod", role=Role.MODERATOR))
    assert [r.priority for r in q] == sorted(r.priority for r in q)
    assert drain(q) == ["sc", "mod", "guard", "gift", "medal", "viewer1", "viewer2"]


def test_a_full_queue_evicts_the_oldest_of_the_lowest_priority_never_a_super_chat() -> None:
    q = queue(max_size=3)
    q.put(req("sc1", kind=EventKind.SUPER_CHAT))
    q.put(req("medal", home_medal=True))
    q.put(req("v1"))
    assert q.put(req("v2"))  # evicts v1 (oldest of the lowest)
    assert q.put(req("guard", guard_level=2))  # evicts v2, then nothing lower is left
    assert not q.put(req("v3"))  # the newcomer itself is the lowest: it goes
    assert q.put(req("sc2", kind=EventKind.SUPER_CHAT))  # evicts medal
    assert q.put(req("sc3", kind=EventKind.SUPER_CHAT))  # evicts guard
    assert q.put(req("sc4", kind=EventKind.SUPER_CHAT))  # nothing evictable: super chats exceed max_size
    assert q.drops == Counter(queue_full=5)
    assert drain(q) == ["sc1", "sc2", "sc3", "sc4"]


def test_super_chats_beyond_max_paid_are_the_only_ones_ever_lost() -> None:
    q = queue(max_size=2, max_paid=3)
    for i in range(5):
        q.put(req(f"sc{i}", kind=EventKind.SUPER_CHAT))
    assert q.drops == Counter(paid_overflow=2) and drain(q) == ["sc2", "sc3", "sc4"]


def test_stale_items_are_dropped_unspoken_super_chats_wait_longer() -> None:
    clock = Clock()
    q = queue(clock, max_age_s=10, paid_max_age_s=100)
    q.put(req("old", clock=clock))
    q.put(req("old sc", clock=clock, kind=EventKind.SUPER_CHAT))
    q.put(req("old mod", clock=clock, role=Role.MODERATOR))  # behind the super chat in its lane
    clock.now += 11
    q.put(req("new", clock=clock))
    assert drain(q) == ["old sc", "new"]
    assert q.drops == Counter(stale=2)
    q.put(req("sc", clock=clock, kind=EventKind.SUPER_CHAT))
    clock.now += 101
    assert drain(q) == [] and q.drops["stale"] == 3


def test_remove_and_clear_count_by_reason() -> None:
    q = queue()
    for i in range(4):
        q.put(req(f"m{i}", uid=i % 2))
    assert q.remove(lambda r: r.event.uid == 1, "muted") == 2
    assert q.clear("cleared") == 2
    assert q.drops == Counter(muted=2, cleared=2) and len(q) == 0
    assert q.remove(lambda r: True, "nothing") == 0 and "nothing" not in q.drops


def test_get_waits_for_put_and_close_ends_it() -> None:
    async def go() -> list[str | None]:
        q = CountedQueue(QueueConfig())
        got: list[str | None] = []

        async def consumer() -> None:
            while (item := await q.get()) is not None:
                got.append(item.text)
            got.append(None)

        task = asyncio.create_task(consumer())
        await asyncio.sleep(0.01)
        q.put(SpeechRequest(text="a", voice="v", event=ChatEvent(text="a")))
        await asyncio.sleep(0.01)
        q.close()
        q.put(SpeechRequest(text="late", voice="v", event=ChatEvent(text="late")))
        await task
        assert q.drops == Counter(shutting_down=1)
        return got

    assert asyncio.run(go()) == ["a", None]


def test_degrades_on_purpose_and_says_so_once_per_flood() -> None:
    clock = Clock()
    modes: list[tuple[QueueMode, bool]] = []
    q = queue(clock, lambda m, first: modes.append((m, first)), max_size=30, names_off_at=5, paid_only_at=10, calm_s=30)
    for i in range(4):
        q.put(req(f"张三说：第{i}条", clock=clock, nameless=f"第{i}条"))
    assert q.mode == QueueMode.NORMAL
    assert q.take_ready(1)[0].text == "张三说：第0条"  # names are read while it keeps up
    for i in range(4, 6):
        q.put(req(f"张三说：第{i}条", clock=clock, nameless=f"第{i}条"))
    assert q.mode == QueueMode.NAMES_OFF and modes == [(QueueMode.NAMES_OFF, True)]
    assert q.take_ready(1)[0].text == "第1条"  # the name is dropped
    for i in range(6, 12):
        q.put(req(f"v{i}", clock=clock))
    assert q.mode == QueueMode.PAID_ONLY and modes[-1] == (QueueMode.PAID_ONLY, True)
    assert len(q) == 0 and q.drops["shed"] == 10  # the unpaid backlog goes
    assert not q.put(req("v12", clock=clock)) and q.drops["shed"] == 11
    assert q.put(req("sc", clock=clock, kind=EventKind.SUPER_CHAT))
    assert q.put(req("gift", clock=clock, kind=EventKind.GIFT))
    assert q.put(req("mod", clock=clock, role=Role.MODERATOR))
    assert drain(q) == ["sc", "mod", "gift"]
    clock.now += 31  # a while later it opens again, still without names
    q.put(req("v13", clock=clock))
    assert modes[-2] == (QueueMode.NAMES_OFF, False)  # and with one waiting, straight back to normal
    for i in range(14, 24):  # the flood is still on: back to paid only, not announced again
        q.put(req(f"v{i}", clock=clock))
    assert modes[-1] == (QueueMode.PAID_ONLY, False)
    clock.now += 31
    drain(q)
    assert q.mode == QueueMode.NORMAL
    clock.now += 31  # calm for a while: the next flood is a new one
    for i in range(5):
        q.put(req(f"w{i}", clock=clock))
    assert modes[-1] == (QueueMode.NAMES_OFF, True)


def test_a_flood_of_10000_mixed_events_loses_no_super_chat_and_every_drop_is_counted() -> None:
    clock = Clock()
    q = queue(clock, max_size=32, max_age_s=60, names_off_at=10, paid_only_at=24, calm_s=30)
    rng = random.Random(7)
    put = spoken = 0
    super_chats: set[str] = set()
    spoken_sc: set[str] = set()
    for i in range(10_000):
        clock.now += rng.expovariate(20.0)  # 20 messages a second for ~8 minutes
        roll = rng.random()
        if roll < 0.01:
            r = req(f"sc{i}", clock=clock, kind=EventKind.SUPER_CHAT, uid=i)
            super_chats.add(r.text)
        elif roll < 0.03:
            r = req(f"mod{i}", clock=clock, role=Role.MODERATOR, uid=1)
        elif roll < 0.08:
            r = req(f"guard{i}", clock=clock, guard_level=3, uid=i)
        elif roll < 0.15:
            r = req(f"gift{i}", clock=clock, kind=EventKind.GIFT, uid=i)
        elif roll < 0.40:
            r = req(f"medal{i}", clock=clock, home_medal=True, uid=i)
        else:
            r = req(f"v{i}", clock=clock, uid=i)
        q.put(r)
        put += 1
        if rng.random() < 0.05:  # the speaker manages one utterance per ~20 messages: about one a second
            for item in q.take_ready(1):
                spoken += 1
                spoken_sc.update({item.text} if item.protected else set())
    while items := q.take_ready(1):  # the stream ends; the rest is spoken
        spoken += 1
        spoken_sc.update({items[0].text} if items[0].protected else set())
    assert spoken_sc == super_chats, f"lost super chats: {sorted(super_chats - spoken_sc)[:5]}"
    assert put == spoken + sum(q.drops.values()) + len(q)
    assert set(q.drops) <= {"queue_full", "stale", "shed"} and q.drops["shed"] > 0
    assert len(super_chats) > 50


def test_a_batch_is_the_oldest_waiting_messages_whatever_their_lengths() -> None:
    """Length grouping happens inside the engine's call (bot/engine/grouping.py), never by passing a message
    over in the queue: each batch takes the oldest waiting, so none waits beyond the batch it falls in."""
    q = queue()
    texts = ["感谢老板送的火箭！主播的操作一次比一次秀，加油", "好", "前方高能预警，大家注意了！", "666", "主播晚上好",
             "刚来的，主播今天玩什么游戏？", "哈", "这个操作我给满分，太强了！", "晚上好", "哈哈哈笑死我了"]
    for i, text in enumerate(texts):
        q.put(req(text, at=100.0 + i))
    assert [r.text for r in q.take_ready(4)] == texts[:4]
    assert [r.text for r in q.take_ready(4)] == texts[4:8]
    assert drain(q) == texts[8:]
