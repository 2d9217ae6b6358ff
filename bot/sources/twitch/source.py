"""A Twitch channel's chat, kept connected for weeks: IRC over TLS on asyncio streams.

Why no library: twitchio 3 dropped IRC for EventSub, which needs an app registration and a token even to
read; the read path of Twitch IRC is ~100 lines (login, CAP, JOIN, PING/PONG, RECONNECT) plus the tag
parsing in `twitch_irc`, all of it tested here against a local TLS server.

Each connection is kept by the same supervisor as Bilibili's and the sound card's (`bot/supervisor.py`):
when it ends, errors, is refused, or stays silent past `silent_after_s` (we PING after `ping_every_s` of
quiet), the reason is logged once and a new connection is made after an exponential backoff with full
jitter. A `RECONNECT` from Twitch (server maintenance) is answered at once, with a small jitter and no
backoff, also when it comes before the channel is joined (it is no failure then either). Events reach the
pipeline through the supervisor's bounded hand-off; overflow is dropped and counted.

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
from bot.supervisor import ConnectFailed, Ended, Handoff, Heard, SupervisedChat, chat_supervisor

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
WRITE_TIMEOUT_S = 10.0
REPLIES_PER_30S = 15
"""Below Twitch's 20 messages per 30 s for a normal account, so answering commands never gets the bot
locked out of the chat."""
_MSG_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class TwitchChatSource(SupervisedChat):
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
        self.replies_sent = 0
        self._ssl = ssl_context or ssl.create_default_context()
        self._supervisor = chat_supervisor(
            "twitch",
            f"#{cfg.channel}",
            lambda heard: _IrcConnection(self, heard),
            log,
            backoff,
            cfg.backoff_cap_s,
            cfg.silent_after_s,
        )
        self._handoff: Handoff[ChatEvent] = Handoff(cfg.handoff_size, self.drops)
        self._writer: asyncio.StreamWriter | None = None
        self._nick = ""
        self._sent_at: deque[float] = deque(maxlen=REPLIES_PER_30S)

    async def events(self) -> AsyncIterator[ChatEvent]:
        if not self.creds.logged_in:
            log.info("twitch: reading #%s anonymously; answers to commands go to the log only", self.cfg.channel)
        task = asyncio.create_task(self._supervisor.run(), name="twitch-supervisor")
        try:
            while True:
                yield await self._handoff.get()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the connection -------------------------------------------------------------------------------

    async def _login(self, writer: asyncio.StreamWriter) -> None:
        self._nick = self.creds.login or f"justinfan{random.randint(10_000, 99_999)}"
        lines = ["CAP REQ :twitch.tv/tags twitch.tv/commands"]
        if self.creds.logged_in:
            lines.append(f"PASS oauth:{self.creds.token}")
        lines += [f"NICK {self._nick}", f"JOIN #{self.cfg.channel}"]
        await self._send(writer, *lines)

    async def _protocol(self, msg: IrcMessage, conn: _IrcConnection) -> str | None:
        """Handle one message; a reason string ends the connection."""
        if msg.command == "PING":
            await self._send(conn.writer, f"PONG :{msg.trailing or 'tmi.twitch.tv'}")
        elif msg.command == "RECONNECT":
            return RECONNECT_ASKED
        elif msg.command == "NOTICE" and msg.params[:1] == ["*"]:
            return f"the server refused the login: {msg.trailing[:120]}"
        elif msg.command == "NOTICE":  # e.g. the channel is suspended, or the bot is banned from it
            self.ignored += 1
            log.warning("twitch: notice for #%s: %s", self.cfg.channel, msg.trailing[:200])
        elif msg.command in ("ROOMSTATE", "JOIN") and msg.params[:1] == [f"#{self.cfg.channel}"]:
            if msg.command == "ROOMSTATE" or msg.nick == self._nick:
                self._joined(conn)
        else:
            mapped = to_event(msg, self.cfg.channel)
            if mapped is None:
                self.ignored += 1
            elif isinstance(mapped, Skipped):
                self.drops[mapped.reason] += 1
            elif isinstance(mapped, Alert):
                self._alert(mapped)
            else:
                self._handoff.put(mapped)
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
        self._handoff.put(event)

    def _joined(self, conn: _IrcConnection) -> None:
        if conn.joined:
            return
        conn.joined = True
        self._writer = conn.writer
        who = f"as {self._nick}" if self.creds.logged_in else "anonymously"
        log.info("twitch: joined #%s %s", self.cfg.channel, who)

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


class _IrcConnection:
    """One TLS connection to Twitch's chat, as the supervisor sees it: up once the channel is joined."""

    def __init__(self, source: TwitchChatSource, heard: Heard) -> None:
        self._source = source
        self._heard = heard
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.joined = False

    @property
    def writer(self) -> asyncio.StreamWriter:
        assert self._writer is not None
        return self._writer

    async def connect(self) -> None:
        cfg = self._source.cfg
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(cfg.host, cfg.port, ssl=self._source._ssl, limit=2 * MAX_LINE_BYTES),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as err:  # ssl.SSLError is an OSError
            raise ConnectFailed(f"cannot connect to {cfg.host}:{cfg.port}: {type(err).__name__}: {err}") from err
        try:
            await self._source._login(self.writer)
            while not self.joined:
                if (ended := await self._next()) is not None:  # RECONNECT may come before the welcome
                    raise ConnectFailed(ended, asked=ended == RECONNECT_ASKED)
        except (OSError, TimeoutError) as err:
            raise ConnectFailed(f"connection error: {type(err).__name__}: {err}") from err

    async def run(self) -> Ended:
        try:
            while (ended := await self._next()) is None:
                pass
        except (OSError, TimeoutError) as err:
            ended = f"connection error: {type(err).__name__}: {err}"
        return Ended(ended, asked=ended == RECONNECT_ASKED)

    async def _next(self) -> str | None:
        """Read and handle one line (or PING after `ping_every_s` of quiet); a reason ends the connection."""
        assert self._reader is not None
        source = self._source
        try:
            raw = await asyncio.wait_for(self._reader.readline(), source.cfg.ping_every_s)
        except TimeoutError:
            await source._send(self.writer, "PING :tmi.twitch.tv")
            return None
        except ValueError:  # a line over the limit: the reader has skipped it
            source.drops["malformed"] += 1
            return None
        if not raw:
            return "the server closed the connection"
        self._heard()
        try:
            msg = parse_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except ValueError as err:
            source.drops["malformed"] += 1
            log.debug("twitch: skipped a malformed line (%s)", err)
            return None
        return await source._protocol(msg, self)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if self._source._writer is writer:
            self._source._writer = None
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 2.0)
