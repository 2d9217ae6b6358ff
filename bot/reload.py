"""SIGHUP: re-read and validate the whole config, then swap in what can change while running, keeping
everything that waits. A config that does not validate (or whose voices cannot be prepared) changes
nothing. What cannot change without a restart is named in the log, never silently ignored."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.config import Config, load_config
from bot.errors import UserError
from bot.sd_notify import Notifier
from bot.speech.prepare import SpeechPreparer
from bot.worker import SynthesisWorker

log = logging.getLogger(__name__)

RESTART_KEYS = ("model", "engine", "source", "output", "state_dir")
"""Settings a reload cannot swap in: they take effect at the next start."""

ReloadHook = Callable[[Config], Awaitable[list[str]]]
"""A part outside the daemon (the HTTP server) applies its settings; returns what still needs a restart."""


class Reloader:
    def __init__(
        self,
        config_path: Path | None,
        current: Callable[[], Config],
        build_preparer: Callable[[Config], Awaitable[SpeechPreparer]],
        apply: Callable[[Config, SpeechPreparer], None],
        worker: SynthesisWorker,
        notifier: Notifier,
        status_line: Callable[[], str],
    ) -> None:
        self.config_path = config_path
        self._current = current
        self._build_preparer = build_preparer
        self._apply = apply
        self._worker = worker
        self._notifier = notifier
        self._status_line = status_line
        self.hooks: list[ReloadHook] = []
        self.requested = asyncio.Event()

    async def serve(self) -> None:
        """Reload whenever asked (SIGHUP), one at a time."""
        while True:
            await self.requested.wait()
            self.requested.clear()
            await self.reload()

    async def reload(self) -> bool:
        if self.config_path is None:
            log.warning("SIGHUP: no config file to reload")
            return False
        self._notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}", "STATUS=reloading")
        old = self._current()
        try:
            new = await asyncio.to_thread(load_config, self.config_path)
            fixed = [key for key in RESTART_KEYS if getattr(new, key) != getattr(old, key)]
            # The preparer first: it can still fail on the new voices while the engine holds the old ones.
            preparer = await self._build_preparer(new)
            if new.voices != old.voices:
                synth, voices = self._worker.synthesizer, new.voices
                await self._worker.call(lambda: synth.set_voices(voices))
            self._apply(new.model_copy(update={key: getattr(old, key) for key in fixed}), preparer)
            for hook in self.hooks:
                fixed += await hook(new)
        except UserError as err:
            log.error("reload rejected, the running config stays: %s", str(err).replace("\n", "; "))
            ok = False
        except Exception:  # a GPU error while preparing voices, a hook's bug: this reload fails, the next may not
            log.exception("reload failed; the running config stays where it was not yet applied")
            ok = False
        else:
            if fixed:
                log.warning("reloaded; %s changed but take effect only after a restart", ", ".join(fixed))
            else:
                log.info("reloaded %s: voices %s", self.config_path, ", ".join(v.id for v in new.voices))
            ok = True
        self._notifier.send("READY=1", f"STATUS={self._status_line()}")
        return ok
