"""Chat typed on stdin, one message per line: for trying voices and for piping text in.

The person typing is the operator: their lines are spoken first and moderator commands (`#tts skip`)
work for them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

from bot.events import ChatEvent, Role


class ConsoleChatSource:
    connected = True

    def __init__(self, uname: str = "console") -> None:
        self.uname = uname

    async def events(self) -> AsyncIterator[ChatEvent]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        except ValueError:  # a regular file on stdin: reading it cannot block for long
            for line in sys.stdin:
                if line.strip():
                    yield ChatEvent(text=line.rstrip("\n"), uname=self.uname, role=Role.OPERATOR)
            return
        while raw := await reader.readline():
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if line.strip():
                yield ChatEvent(text=line, uname=self.uname, role=Role.OPERATOR)
