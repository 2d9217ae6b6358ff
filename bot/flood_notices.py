"""What the daemon says when chat outruns speech: the queue changes mode (`bot/speech_queue.py`), the
operator reads why in the log, and once per flood the streamer's notice is said aloud."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.config import QueueConfig
from bot.speech_queue import QueueMode

log = logging.getLogger(__name__)


class FloodNotices:
    def __init__(self, cfg: Callable[[], QueueConfig], announce: Callable[[str], None]) -> None:
        self._cfg = cfg
        self._announce = announce
        self.depth: Callable[[], int] = lambda: 0
        """How many wait now (the queue, once built: it is built with this object's `on_mode`)."""

    def on_mode(self, mode: QueueMode, first_in_flood: bool) -> None:
        cfg = self._cfg()
        notices = {QueueMode.NAMES_OFF: cfg.names_off_notice, QueueMode.PAID_ONLY: cfg.paid_only_notice}
        depth = self.depth()
        if mode == QueueMode.NORMAL:
            log.info("queue back to normal (%d waiting): names are read again", depth)
            return
        if not first_in_flood:
            log.info("queue %s again (%d waiting)", mode.value, depth)
            return
        log.warning(
            "chat is outrunning speech (%d waiting): %s",
            depth,
            "names are no longer read" if mode == QueueMode.NAMES_OFF else "only paid messages are read",
        )
        if notice := notices.get(mode):
            # Not from inside put(): the queue is mid-update when it tells us.
            asyncio.get_running_loop().call_soon(self._announce, notice)
