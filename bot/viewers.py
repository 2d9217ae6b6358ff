"""Who has been seen in chat: lets a moderator write `mute @name` or `mute last` instead of a uid.

Bounded (least recently seen forgotten first). A name is only a hint: commands act on uids, and a name
that two uids used recently is ambiguous and refused rather than guessed, so a viewer who renames
themselves after someone else cannot get that person muted.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from bot.events import ChatEvent, Role


@dataclass(frozen=True)
class Viewer:
    uid: int
    name: str
    role: Role


MAX_STAFF = 1000
MAX_UIDS_PER_NAME = 8


def name_key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().removeprefix("@").casefold()


class Viewers:
    def __init__(self, max_viewers: int = 20_000) -> None:
        self.max_viewers = max_viewers
        self._by_uid: OrderedDict[int, Viewer] = OrderedDict()
        self._by_name: OrderedDict[str, set[int]] = OrderedDict()
        self.staff: set[int] = set()
        """Uids seen as the streamer or a moderator: never forgotten (a few per room), so they stay
        protected from a mute however many viewers come after them."""

    def saw(self, event: ChatEvent) -> None:
        if not event.uid:
            return
        if event.role in (Role.STREAMER, Role.MODERATOR) and len(self.staff) < MAX_STAFF:
            self.staff.add(event.uid)
        self._by_uid.pop(event.uid, None)
        self._by_uid[event.uid] = Viewer(event.uid, event.uname, event.role)
        if event.uname:
            key = name_key(event.uname)
            uids = self._by_name.pop(key, set())
            if len(uids) < MAX_UIDS_PER_NAME:  # two already make the name ambiguous; many accounts can't grow it
                uids.add(event.uid)
            self._by_name[key] = uids
        while len(self._by_uid) > self.max_viewers:
            self._by_uid.popitem(last=False)
        while len(self._by_name) > self.max_viewers:
            self._by_name.popitem(last=False)

    def get(self, uid: int) -> Viewer | None:
        return self._by_uid.get(uid)

    def by_name(self, name: str) -> Viewer | str:
        """The viewer recently seen under `name`, or why there is not exactly one."""
        uids = self._by_name.get(name_key(name), set())
        if not uids:
            return f"no viewer named {name[:24]!r} was seen recently"
        if len(uids) > 1:
            return f"{name[:24]!r} is ambiguous ({len(uids)} viewers used it); give a uid"
        uid = next(iter(uids))
        return self._by_uid.get(uid) or Viewer(uid, name, Role.VIEWER)
