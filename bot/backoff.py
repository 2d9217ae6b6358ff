"""Exponential backoff with full jitter, for anything that reconnects (chat servers, the sound card).

Why full jitter (a uniform draw between 0 and the exponential bound): after a shared outage many clients
— or one bot's several reconnecting parts — do not retry in lockstep. The bound resets only once a
connection has stayed up for `stable_s`, so a link that drops right after each connect keeps backing off.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        base_s: float = 0.5,
        cap_s: float = 60.0,
        stable_s: float = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.stable_s = stable_s
        self.attempt = 0
        self._rng = rng or random.Random()
        self._clock = clock
        self._up_since: float | None = None

    def next_delay(self) -> float:
        """The wait before the next attempt (call after a failure or a drop)."""
        if self._up_since is not None and self._clock() - self._up_since >= self.stable_s:
            self.attempt = 0
        self._up_since = None
        bound = min(self.cap_s, self.base_s * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 32)
        return self._rng.uniform(0, bound)

    def soon(self) -> float:
        """A wait under a second that leaves the backoff as it is: for a peer that asked us to come back
        (maintenance, not trouble), jittered so a fleet of clients does not return at once."""
        return self._rng.uniform(0, 1.0)

    def connected(self) -> None:
        """The attempt worked; the backoff resets if it stays up for `stable_s`."""
        self._up_since = self._clock()
