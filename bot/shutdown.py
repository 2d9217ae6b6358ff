"""Bounded shutdown steps: a stop must end the process before systemd's TimeoutStopSec whatever the tasks
are doing, and no step may skip the ones after it (the final state save, the summary line).

Why cancelling is retried: on Python 3.11 `asyncio.wait_for` returns the awaited result instead of
raising when that result arrives as its task is cancelled, so a task can swallow one cancellation and go
on looping. One awaited without a bound would hold the shutdown forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from typing import Any

log = logging.getLogger(__name__)

CANCEL_AGAIN_S = 0.25
"""A task still running this long after being cancelled is cancelled again."""
MIN_STEP_S = 0.5
"""Every step gets at least this, even past the budget: a state save takes milliseconds."""


async def cancel_tasks(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> None:
    """Cancel `tasks` and wait for them for at most `timeout` s, cancelling again any that goes on; one
    still running at the end is named in the log and left behind. Their results are not collected."""
    deadline = time.monotonic() + max(timeout, MIN_STEP_S)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(CANCEL_AGAIN_S, left))
    for task in pending:
        log.warning("shutdown: task %s ignored its cancellation for %.1f s; leaving it", task.get_name(), timeout)


async def bounded(what: str, step: Awaitable[Any], timeout: float) -> bool:
    """Await one shutdown step for at most `timeout` s; a failure or a timeout is logged (one line) and
    False returned, never raised."""
    try:
        await asyncio.wait_for(step, max(timeout, MIN_STEP_S))
    except asyncio.TimeoutError:
        log.warning("shutdown: %s took longer than %.1f s; going on without it", what, max(timeout, MIN_STEP_S))
    except Exception as err:
        log.error("shutdown: %s failed: %s", what, err)
    else:
        return True
    return False
