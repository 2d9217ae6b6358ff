"""The rest of a streamed long message (`Utterance.rest`), as an output waits for it.

The rest is synthesised while the first part plays. An output waits for it without ever letting its
failure or cancellation escape as its own: a rest that failed (GPU out of memory) or was cancelled (a
moderator cleared the message, shutdown) ends the utterance after the part already heard.
"""

from __future__ import annotations

import asyncio
import logging

from bot.events import Pcm, Utterance

log = logging.getLogger(__name__)


async def rest_of(utterance: Utterance) -> Pcm | None:
    """The rest's audio once synthesised; None if there is none, or it failed or was cancelled."""
    rest = utterance.rest
    if rest is None:
        return None
    await asyncio.wait({rest})  # not `await rest`: its cancellation is not ours
    if rest.cancelled():
        return None
    if (err := rest.exception()) is not None:
        log.warning("the rest of message #%d could not be synthesised (%s); it ends early", utterance.request.seq, err)
        return None
    return rest.result().pcm


def drop_rest(utterance: Utterance) -> None:
    """The utterance will not be heard on: its rest need not be synthesised (nor waited for)."""
    if utterance.rest is not None:
        utterance.rest.cancel()
