"""A Bilibili live room's chat, kept connected for weeks.

The wire protocol is bilibili-api-python's `LiveDanmaku` on its aiohttp client. Around it, the bot's one
supervisor (`bot/supervisor.py`): `LiveDanmaku.connect()` returns silently once its hosts are exhausted
(and reconnects to the same host at once, without backoff, after an abnormal close), and never dispatches
DISCONNECT. So each connection is one fresh client, watched here: when it ends, when it drops after having
been established, or when nothing at all (not even a heartbeat reply) has arrived for `silent_after_s`,
it is torn down, the reason is logged once, and a new client is made after an exponential backoff with
full jitter, reset only after a connection stayed up for a while.

Commands are mapped synchronously in the library's dispatch (`bilibili_commands.map_command`, cheap for
the many kinds we ignore) and handed to the pipeline through the supervisor's bounded hand-off: the
reader never waits on the rest of the pipeline, and overflow is dropped and counted.

Library internals this relies on (each covered by tests/sources/bilibili/test_source.py against a fake server):
the `ALL` event with `{"type", "data"}` payloads, `get_status()`'s codes, `get_live_room().get_ruid()`
after connecting, and three private attributes: `_LiveDanmaku__handle_data` (wrapped so a bad frame is
skipped instead of ending the connection), `_LiveDanmaku__tasks` (its heartbeat tasks) and
`_LiveDanmaku__ws` for teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from bot.backoff import Backoff
from bot.events import ChatEvent, EventKind, Role
from bot.sources.bilibili import BilibiliSource
from bot.sources.bilibili.commands import (
    GiftMerger,
    GiftTally,
    GuardMerger,
    GuardPurchase,
    Interaction,
    Mapped,
    Notice,
    Skipped,
    map_command,
)
from bot.sources.bilibili.credentials import BiliCredentials, load_credentials
from bot.sources.recent_ids import RecentIds
from bot.supervisor import ConnectFailed, Ended, Handoff, Heard, SupervisedChat, chat_supervisor

log = logging.getLogger(__name__)

STATUS_ESTABLISHED = 2
WATCH_S = 0.1
CLOSE_S = 2.0
"""How long closing waits for the library's connection task to end after cancelling it."""
GUARD_COPIES_S = 2.0
"""A guard purchase's copies (GUARD_BUY and the toasts) arrive within a second of each other: hold the first
this long so the thank-you is worded from all of them."""
PAID_ID_WINDOW_S = 900.0
"""How long a paid event's id is remembered: its twin, or a replay after a reconnect, within this is not
read again."""


class LiveClient(Protocol):
    """The part of `bilibili_api.live.LiveDanmaku` the supervisor uses."""

    def add_event_listener(self, name: str, handler: Callable[..., Any]) -> None: ...

    async def connect(self) -> None: ...

    def get_status(self) -> int: ...

    def get_live_room(self) -> Any: ...


ClientFactory = Callable[[int, BiliCredentials], LiveClient]


def make_live_danmaku(room_id: int, creds: BiliCredentials) -> LiveClient:
    """The real client, with the aiohttp backend selected explicitly and its chatty logger tamed (it logs
    raw auth packets at debug level: they must never reach our logs)."""
    from bilibili_api import Credential, live, select_client

    select_client("aiohttp")
    credential = Credential(
        sessdata=creds.sessdata or None,
        bili_jct=creds.bili_jct or None,
        buvid3=creds.buvid3 or None,
        dedeuserid=creds.dedeuserid or None,
    )
    # max_retry=1: each host is tried once, then connect() returns and the supervisor's backoff decides.
    client = live.LiveDanmaku(room_id, credential=credential, max_retry=1, retry_after=1)
    lib_log = client.logger
    for handler in list(lib_log.handlers):
        lib_log.removeHandler(handler)
    lib_log.setLevel(logging.ERROR)
    lib_log.propagate = False
    lib_log.addHandler(_LastWords())
    return client


class _LastWords(logging.Handler):
    """Keeps the library's last complaint, to give as the reason when its connection ends."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = str(record.msg)[:200]


class BilibiliChatSource(SupervisedChat):
    def __init__(
        self,
        cfg: BilibiliSource,
        client_factory: ClientFactory = make_live_danmaku,
        session_factory: Callable[[], Any] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.cfg = cfg
        self.creds = load_credentials(cfg.credentials_file)
        self.drops: Counter[str] = Counter()
        self.ignored = 0
        self.owner_uid = 0
        self._factory = client_factory
        self._session_factory = session_factory
        self._supervisor = chat_supervisor(
            "bilibili",
            f"room {cfg.room_id}",
            lambda heard: _RoomConnection(self, heard),
            log,
            backoff,
            cfg.backoff_cap_s,
            cfg.silent_after_s,
        )
        self._handoff: Handoff[ChatEvent] = Handoff(cfg.handoff_size, self.drops)
        self._gifts = GiftMerger(cfg.gift_merge_s)
        self._guards = GuardMerger(GUARD_COPIES_S)
        self._paid_ids = RecentIds(PAID_ID_WINDOW_S)
        self._warned_login = False
        self.live: bool | None = None

    async def events(self) -> AsyncIterator[ChatEvent]:
        if self._session_factory is not None:
            from bilibili_api import get_client, select_client, set_session

            select_client("aiohttp")
            # set_session refuses while this loop has no client yet (an empty pool): make the default one,
            # close it, then swap the session in.
            await get_client().close()  # type: ignore[no-untyped-call]
            set_session(self._session_factory())
        if not self.creds.logged_in:
            self._warn_anonymous("no BILIBILI_SESSDATA login configured")
        tasks = [
            asyncio.create_task(self._supervisor.run(), name="bilibili-supervisor"),
            asyncio.create_task(self._flush_gifts(), name="bilibili-gifts"),
        ]
        try:
            while True:
                yield await self._handoff.get()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _warn_anonymous(self, why: str) -> None:
        if self._warned_login:
            return
        self._warned_login = True
        log.warning("!" * 78)
        log.warning("bilibili: reading room %d WITHOUT a login (%s):", self.cfg.room_id, why)
        log.warning("bilibili: names arrive masked and user ids as 0, so muting viewers and per-viewer voices")
        log.warning("bilibili: cannot work. Set BILIBILI_SESSDATA etc. (README: 'Bilibili login').")
        log.warning("!" * 78)

    # -- the connection -----------------------------------------------------------------------------------

    def _guard_frames(self, client: LiveClient) -> None:
        """The library handles each websocket frame in its connection loop, so one frame it cannot parse
        (a truncated packet, an unexpected compression, a protobuf field that is not base64) ends the
        connection and loses what follows. Wrap its frame handler: a bad frame is counted, logged the first
        time, and skipped."""
        handle = getattr(client, "_LiveDanmaku__handle_data", None)
        if handle is None:
            return

        async def guarded(data: Any) -> None:
            try:
                await handle(data)
            except Exception as err:
                self.drops["bad_frame"] += 1
                n = self.drops["bad_frame"]
                if n == 1 or n % 1000 == 0:
                    size = len(data) if isinstance(data, bytes | bytearray) else -1
                    log.warning(
                        "bilibili: skipped an unreadable frame (%d bytes: %s: %s); %d so far",
                        size,
                        type(err).__name__,
                        str(err)[:100],
                        n,
                    )

        client._LiveDanmaku__handle_data = guarded  # type: ignore[attr-defined]

    @staticmethod
    def _library_reason(client: LiveClient, default: str) -> str:
        logger = getattr(client, "logger", None)
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, _LastWords) and handler.last:
                return f"{default}: {handler.last}"
        return default

    async def _learn_owner(self, client: LiveClient) -> None:
        try:
            self.owner_uid = int(await client.get_live_room().get_ruid())
        except Exception as err:
            log.warning("bilibili: could not learn the streamer's uid (%s); the streamer counts as a viewer", err)

    # -- commands (called synchronously by the library's dispatch) ----------------------------------------

    def _on_command(self, payload: Any) -> None:
        try:
            if not isinstance(payload, dict):
                return
            data = payload.get("data")
            if not isinstance(data, dict) or "cmd" not in data:
                return  # VIEW (heartbeat reply), VERIFICATION_SUCCESSFUL
            mapped = map_command(data, self.owner_uid)
            if mapped is None:
                self.ignored += 1
            for item in mapped if isinstance(mapped, list) else [] if mapped is None else [mapped]:
                self._route(item)
        except Exception:  # never let one odd command reach the library's loop
            self.drops["malformed"] += 1

    def _route(self, mapped: Mapped) -> None:
        """Paid events are read once per platform id (twins, V1/V2 copies, replays after a reconnect); a
        super chat withdrawn before it arrived (a replay) is not read either."""
        if isinstance(mapped, Notice):
            self._notice(mapped)
        elif isinstance(mapped, Skipped):
            self.drops[mapped.reason] += 1
        elif isinstance(mapped, Interaction):
            self._interaction(mapped)
        elif isinstance(mapped, GiftTally):
            if mapped.tid and self._paid_ids.seen(f"gift:{mapped.tid}"):
                self.drops["duplicate_paid"] += 1
                return
            for tally in self._gifts.add(mapped):
                self._thank(tally)
        elif isinstance(mapped, GuardPurchase):
            if not self._guards.holds(mapped) and self._paid_ids.seen(mapped.key):
                self.drops["duplicate_paid"] += 1
                return
            for purchase in self._guards.add(mapped):
                self._thank_guard(purchase)
        elif mapped.kind == EventKind.SUPER_CHAT and not self.cfg.super_chats:
            self.ignored += 1
        elif mapped.kind == EventKind.SUPER_CHAT and mapped.msg_id and self._paid_ids.seen(mapped.msg_id):
            self.drops["duplicate_paid"] += 1
        else:
            if mapped.kind == EventKind.RECALL and mapped.msg_id.startswith("sc:"):
                self._paid_ids.seen(mapped.msg_id)  # a replayed copy of the deleted super chat is not read
            self._handoff.put(mapped)

    def _notice(self, notice: Notice) -> None:
        if notice.kind == "LOG_IN_NOTICE":
            self._warn_anonymous(notice.message or "Bilibili says this connection is not logged in")
        elif notice.kind in ("LIVE", "PREPARING"):
            was, self.live = self.live, notice.kind == "LIVE"
            log.info("bilibili: room %d is %s", self.cfg.room_id, "live" if self.live else "off air")
            said = self.cfg.live_template if self.live else self.cfg.offline_template
            if said and was != self.live:  # Bilibili sends a burst of LIVE copies: said once
                self._handoff.put(ChatEvent(text=said, uid=self.owner_uid, kind=EventKind.SYSTEM, role=Role.STREAMER))
        else:
            log.warning("bilibili: %s from Bilibili: %s", notice.kind, notice.message[:200])

    def _interaction(self, seen: Interaction) -> None:
        """Entries, follows and shares are said only with the streamer's template, as the viewer's own
        (unpaid) message: muted viewers stay silent, and a flood of entries is rate-limited and shed."""
        cfg = self.cfg
        template = {"entry": cfg.entry_template, "follow": cfg.follow_template, "share": cfg.share_template}[seen.what]
        if not template:
            self.ignored += 1
            return
        text = template.format(uname=seen.uname)
        self._handoff.put(ChatEvent(text=text, uid=seen.uid, uname=seen.uname, kind=EventKind.SYSTEM))

    def _thank(self, tally: GiftTally) -> None:
        if not self.cfg.gift_template or tally.yuan < self.cfg.gift_min_yuan:
            return
        text = self.cfg.gift_template.format(
            uname=tally.uname, gift=tally.gift, count=tally.count, yuan=f"{tally.yuan:g}"
        )
        self._handoff.put(
            ChatEvent(
                text=text,
                uid=tally.uid,
                uname=tally.uname,
                kind=EventKind.GIFT,
                guard_level=tally.guard_level,
                price=tally.yuan,
            )
        )

    def _thank_guard(self, purchase: GuardPurchase) -> None:
        template = (purchase.renewal and self.cfg.guard_renew_template) or self.cfg.guard_template
        if not template:
            return
        action = "续费" if purchase.renewal else "开通"
        self._handoff.put(
            ChatEvent(
                text=template.format(uname=purchase.uname, role=purchase.role, action=action),
                uid=purchase.uid,
                uname=purchase.uname,
                kind=EventKind.GUARD,
                guard_level=purchase.level,
                price=purchase.price,
            )
        )

    async def _flush_gifts(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self.cfg.gift_merge_s / 2))
            for tally in self._gifts.due():
                self._thank(tally)
            for purchase in self._guards.due():
                self._thank_guard(purchase)


class _RoomConnection:
    """One `LiveDanmaku` client, as the supervisor sees it: up once the library says it is established."""

    def __init__(self, source: BilibiliChatSource, heard: Heard) -> None:
        self._source = source
        self._heard = heard
        self._client: LiveClient | None = None
        self._conn: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        source = self._source
        try:
            client = self._client = source._factory(source.cfg.room_id, source.creds)
        except Exception as err:  # a library bug or a bad room id must not end the bot
            raise ConnectFailed(f"cannot create the client: {type(err).__name__}: {err}") from err
        client.add_event_listener("ALL", self._on_payload)
        source._guard_frames(client)
        self._conn = asyncio.create_task(client.connect(), name="bilibili-connect")
        while True:
            if (ended := await self._poll(client, self._conn)) is not None:
                raise ConnectFailed(ended)
            if client.get_status() == STATUS_ESTABLISHED:
                break
        await source._learn_owner(client)
        log.info("bilibili: connected to room %d", source.cfg.room_id)

    async def run(self) -> Ended:
        assert self._client is not None and self._conn is not None
        while True:
            if (ended := await self._poll(self._client, self._conn)) is not None:
                return Ended(ended)
            if self._client.get_status() != STATUS_ESTABLISHED:
                return Ended(self._source._library_reason(self._client, "the connection dropped"))

    def _on_payload(self, payload: Any) -> None:
        self._heard()  # anything at all, a heartbeat reply too
        self._source._on_command(payload)

    async def _poll(self, client: LiveClient, conn: asyncio.Task[None]) -> str | None:
        """Why the library's connection task ended, if it has within `WATCH_S`."""
        done, _ = await asyncio.wait({conn}, timeout=WATCH_S)
        if not done:
            return None
        if conn.cancelled():
            return "cancelled"
        failure = conn.exception()
        if failure is not None:
            return f"{type(failure).__name__}: {str(failure)[:200]}"
        return self._source._library_reason(client, "the server closed the connection")

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.cancel()
            # Bounded, and our own cancellation still goes through (a library task that ignores its
            # cancel must not hang the supervisor and leave the chat silently dead).
            await asyncio.wait({self._conn}, timeout=CLOSE_S)
        client = self._client
        for task in list(getattr(client, "_LiveDanmaku__tasks", [])):  # its heartbeat tasks
            task.cancel()
        ws = getattr(client, "_LiveDanmaku__ws", None)
        if ws is not None:
            with contextlib.suppress(Exception):
                from bilibili_api import get_client

                await asyncio.wait_for(get_client().ws_close(ws), 2.0)
