"""A Twitch channel's chat, kept connected for weeks: IRC over TLS on asyncio streams.

Why no library: twitchio 3 dropped IRC for EventSub, which needs an app registration and a token even to
read; the read path of Twitch IRC is ~100 lines (login, CAP, JOIN, PING/PONG, RECONNECT) plus the tag
parsing in `twitch_irc`, all of it tested here against a local TLS server.

Around each connection the same supervisor as Bilibili's (`bot/backoff.py`): when the connection ends,
errors, is refused, or stays silent past `silent_after_s` (we PING after `ping_every_s` of quiet), the
reason is logged once and a new connection is made after an exponential backoff with full jitter. A
`RECONNECT` from Twitch (server maintenance) is answered at once, with a small jitter and no backoff.
Events reach the pipeline through a bounded queue; overflow is dropped and counted.

The OAuth token is sent once in `PASS` and appears nowhere else: not in logs, reprs or errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import ssl
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping

from bot.backoff import Backoff
from bot.events import ChatEvent, EventKind
from bot.sources.twitch import TwitchSource
from bot.sources.twitch.credentials import TwitchCredentials, load_twitch_credentials
from bot.sources.twitch.irc import MAX_LINE_BYTES, Alert, IrcMessage, Skipped, parse_line, to_event

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
WRITE_TIMEOUT_S = 10.0
REPLIES_PER_30S = 15
"""Below Twitch's 20 messages per 30 s for a normal account, so answering commands never gets the bot
locked out of the chat."""
_MSG_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class TwitchChatSource:
    def __init__(
        self,
        cfg: TwitchSource,
        ssl_context: ssl.SSLContext | None = None,
        backoff: Backoff | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.cfg = cfg
        self.creds: TwitchCredentials = load_twitch_credentials(cfg.credentials_file, environ)
        self.drops: Counter[str] = Counter()
        self.ignored = 0
        self.connects = 0
        self.reconnect_reasons: list[str] = []
        self.connected = False
        self.replies_sent = 0
        self._ssl = ssl_context or ssl.create_default_context()
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=cfg.backoff_cap_s, stable_s=60.0)
        self._handoff: asyncio.Queue[ChatEvent] = asyncio.Queue(maxsize=cfg.handoff_size)
        self._writer: asyncio.StreamWriter | None = None
        self._nick = ""
        self._sent_at: deque[float] = deque(maxlen=REPLIES_PER_30S)

    async def events(self) -> AsyncIterator[ChatEvent]:
        if not self.creds.logged_in:
            log.info("twitch: reading #%s anonymously; answers to commands go to the log only", self.cfg.channel)
        task = asyncio.create_task(self._supervise(), name="twitch-supervisor")
        try:
            while True:
                yield await self._handoff.get()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the connection -------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            reason = await self._one_connection()
            self.reconnect_reasons.append(reason)
            # Twitch's RECONNECT is maintenance, not trouble: go at once (jittered), without backing off.
            delay = random.uniform(0, 1) if reason == RECONNECT_ASKED else self._backoff.next_delay()
            log.warning("twitch: connection to #%s ended (%s); reconnecting in %.1f s", self.cfg.channel, reason, delay)
            await asyncio.sleep(delay)

    async def _one_connection(self) -> str:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.cfg.host, self.cfg.port, ssl=self._ssl, limit=2 * MAX_LINE_BYTES),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as err:  # ssl.SSLError is an OSError
            return f"cannot connect to {self.cfg.host}:{self.cfg.port}: {type(err).__name__}: {err}"
        try:
            await self._login(writer)
            return await self._read(reader, writer)
        except (OSError, TimeoutError) as err:
            return f"connection error: {type(err).__name__}: {err}"
        except Exception as err:  # a bug in handling one line must not end the source for good
            log.exception("twitch: unexpected error; reconnecting")
            return f"unexpected error: {type(err).__name__}"
        finally:
            self.connected = False
            self._writer = None
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def _login(self, writer: asyncio.StreamWriter) -> None:
        self._nick = self.creds.login or f"justinfan{random.randint(10_000, 99_999)}"
        lines = ["CAP REQ :twitch.tv/tags twitch.tv/commands"]
        if self.creds.logged_in:
            lines.append(f"PASS oauth:{self.creds.token}")
        lines += [f"NICK {self._nick}", f"JOIN #{self.cfg.channel}"]
        await self._send(writer, *lines)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        last_data = time.monotonic()
        while True:
            try:
                raw = await asyncio.wait_for(reader.readline(), self.cfg.ping_every_s)
            except TimeoutError:
                if time.monotonic() - last_data >= self.cfg.silent_after_s:
                    return f"nothing received for {self.cfg.silent_after_s:g} s"
                await self._send(writer, "PING :tmi.twitch.tv")
                continue
            except ValueError:  # a line over the limit: the reader has skipped it
                self.drops["malformed"] += 1
                continue
            if not raw:
                return "the server closed the connection"
            last_data = time.monotonic()
            try:
                msg = parse_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
            except ValueError as err:
                self.drops["malformed"] += 1
                log.debug("twitch: skipped a malformed line (%s)", err)
                continue
            if (ended := await self._protocol(msg, writer)) is not None:
                return ended

    async def _protocol(self, msg: IrcMessage, writer: asyncio.StreamWriter) -> str | None:
        """Handle one message; a reason string ends the connection."""
        if msg.command == "PING":
            await self._send(writer, f"PONG :{msg.trailing or 'tmi.twitch.tv'}")
        elif msg.command == "RECONNECT":
            return RECONNECT_ASKED
        elif msg.command == "NOTICE" and msg.params[:1] == ["*"]:
            return f"the server refused the login: {msg.trailing[:120]}"
        elif msg.command == "NOTICE":  # e.g. the channel is suspended, or the bot is banned from it
            self.ignored += 1
            log.warning("twitch: notice for #%s: %s", self.cfg.channel, msg.trailing[:200])
        elif msg.command in ("ROOMSTATE", "JOIN") and msg.params[:1] == [f"#{self.cfg.channel}"]:
            if msg.command == "ROOMSTATE" or msg.nick == self._nick:
                self._joined(writer)
        else:
            mapped = to_event(msg, self.cfg.channel)
            if mapped is None:
                self.ignored += 1
            elif isinstance(mapped, Skipped):
                self.drops[mapped.reason] += 1
            elif isinstance(mapped, Alert):
                self._alert(mapped)
            else:
                self._hand_off(mapped)
        return None

    def _alert(self, alert: Alert) -> None:
        """Word a sub, gifted subs, a raid or a cheer without words with the streamer's template (none: not
        spoken). A resub's own message is read after the thanks, in the viewer's name, with a paid message's
        priority."""
        cfg = self.cfg
        kind = EventKind.GIFT  # a raid brings viewers: thanked like a gift, even while the queue sheds chat
        if alert.kind == "sub":
            kind = EventKind.GUARD
            thanks = (
                cfg.sub_template.format(uname=alert.uname, plan=alert.plan, months=alert.months)
                if cfg.sub_template
                else ""
            )
            text = " ".join(t for t in (thanks, alert.message if cfg.sub_messages else "") if t)
        elif alert.kind == "gift":
            text = (
                cfg.gift_template.format(uname=alert.uname, count=alert.count, plan=alert.plan)
                if cfg.gift_template
                else ""
            )
        elif alert.kind == "bits":
            text = cfg.bits_template.format(uname=alert.uname, bits=alert.count) if cfg.bits_template else ""
        else:
            text = cfg.raid_template.format(uname=alert.uname, viewers=alert.count) if cfg.raid_template else ""
        if not text:
            if alert.kind == "bits":
                self.drops["cheer without text"] += 1
            else:
                self.ignored += 1
            return
        event = ChatEvent(
            text=text,
            uid=alert.uid,
            uname=alert.uname,
            kind=kind,
            msg_id=alert.msg_id,
            price=alert.price,
            role=alert.role,
        )
        self._hand_off(event)

    def _joined(self, writer: asyncio.StreamWriter) -> None:
        if self.connected:
            return
        self.connected = True
        self.connects += 1
        self._writer = writer
        self._backoff.connected()
        who = f"as {self._nick}" if self.creds.logged_in else "anonymously"
        log.info("twitch: joined #%s %s", self.cfg.channel, who)

    def _hand_off(self, event: ChatEvent) -> None:
        try:
            self._handoff.put_nowait(event)
        except asyncio.QueueFull:
            self.drops["source_overflow"] += 1

    async def _send(self, writer: asyncio.StreamWriter, *lines: str) -> None:
        writer.write("".join(f"{line}\r\n" for line in lines).encode("utf-8"))
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_S)

    # -- answers to moderator commands (moderation.Replier) ----------------------------------------------

    async def reply(self, text: str, to: ChatEvent) -> None:
        """Log the answer and, when logged in and connected, post it in the chat as a reply."""
        log.info("to %s: %s", to.uname or to.uid, text)
        writer = self._writer
        if not (self.creds.logged_in and self.cfg.replies and writer is not None and self.connected):
            return
        now = time.monotonic()
        if len(self._sent_at) == self._sent_at.maxlen and now - self._sent_at[0] < 30.0:
            log.warning("twitch: answer not posted: over %d answers in 30 s", REPLIES_PER_30S)
            return
        self._sent_at.append(now)
        body = " ".join(text.split())[:450]
        if body[:1] in ("/", "."):  # Twitch would run it as a chat command (/ban, .timeout) as the bot
            body = "» " + body
        tag = f"@reply-parent-msg-id={to.msg_id} " if _MSG_ID.match(to.msg_id) else ""
        try:
            await self._send(writer, f"{tag}PRIVMSG #{self.cfg.channel} :{body}")
            self.replies_sent += 1
        except (OSError, TimeoutError) as err:
            log.warning("twitch: answer not posted: %s", type(err).__name__)


RECONNECT_ASKED = "the server asked us to reconnect (RECONNECT)"
