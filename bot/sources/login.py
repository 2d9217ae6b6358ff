"""What `check` says about a live source's login, alike for every platform: it is read as the daemon
would read it; an unusable one is a problem, none at all a note (the source then reads anonymously)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bot.component import Findings
from bot.errors import UserError


class Login(Protocol):
    @property
    def logged_in(self) -> bool: ...


def check_login(load: Callable[[], Login], anonymous_note: str) -> Findings:
    try:
        if load().logged_in:
            return Findings()
    except UserError as err:
        return Findings(problems=[str(err)])
    return Findings(notes=[anonymous_note])
