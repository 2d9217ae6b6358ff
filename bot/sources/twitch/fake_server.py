"""A local stand-in for Twitch's IRC server (irc.chat.twitch.tv:6697), for tests and offline demos.

Speaks enough of the dialect for the real client: it records every line a client sends (so tests see
CAP, PASS, NICK, JOIN, PONG and PRIVMSG replies), welcomes a client after NICK and JOIN with `001`, the
JOIN echo and `ROOMSTATE`, answers PING, refuses a bad token with Twitch's own NOTICE, can answer a JOIN
with `RECONNECT` instead of the welcome (maintenance starting mid-login), and lets a test push raw lines to
every client, send `RECONNECT`, or drop connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl


class FakeTwitchServer:
    def __init__(self, ssl_context: ssl.SSLContext, channel: str = "streamer", valid_token: str = "") -> None:
        self.ssl_context = ssl_context
        self.channel = channel
        self.valid_token = valid_token
        """When set, a PASS must carry exactly this token (else Twitch's "Login authentication failed");
        anonymous logins (no PASS) are let in, as on Twitch."""
        self.answer_pings = True
        self.reconnect_before_welcome = 0
        """The next this many JOINs are answered with `RECONNECT` and no welcome."""
        self.received: list[str] = []
        self.connections = 0
        self.joined = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        await self.drop_clients()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def send(self, *lines: str) -> None:
        """Push raw lines (without CR LF) to every joined client."""
        await self.send_bytes("".join(f"{line}\r\n" for line in lines).encode("utf-8"))

    async def send_bytes(self, data: bytes) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(OSError):
                writer.write(data)
                await writer.drain()

    async def drop_clients(self) -> None:
        self.joined.clear()
        for writer in list(self._writers):
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        nick, token = "", None
        try:
            while raw := await reader.readline():
                line = raw.decode("utf-8").rstrip("\r\n")
                self.received.append(line)
                word, _, rest = line.partition(" ")
                if word == "PASS":
                    token = rest.removeprefix("oauth:")
                elif word == "NICK":
                    nick = rest
                elif word == "PING" and self.answer_pings:
                    writer.write(f":tmi.twitch.tv PONG tmi.twitch.tv {rest}\r\n".encode())
                elif word == "JOIN":
                    if token is not None and self.valid_token and token != self.valid_token:
                        writer.write(b":tmi.twitch.tv NOTICE * :Login authentication failed\r\n")
                        await writer.drain()
                        break
                    if self.reconnect_before_welcome > 0:
                        self.reconnect_before_welcome -= 1
                        writer.write(b":tmi.twitch.tv RECONNECT\r\n")
                        await writer.drain()
                        break
                    writer.write(
                        (
                            f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!\r\n"
                            f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{self.channel}\r\n"
                            f"@emote-only=0;room-id=1000;slow=0 :tmi.twitch.tv ROOMSTATE #{self.channel}\r\n"
                        ).encode()
                    )
                    self._writers.append(writer)
                    self.joined.set()
                await writer.drain()
        except (OSError, ssl.SSLError, UnicodeDecodeError):
            pass
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
