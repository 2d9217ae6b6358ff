"""Twitch chat's IRC dialect: parsing a line (IRCv3 message tags) and mapping it to a ChatEvent.

Pure functions, no I/O, so every quirk is unit-tested: escaped tag values (`\\s`, `\\:`, `\\\\`), emote
ranges counted in code points, /me (CTCP ACTION) messages, cheermotes inside a cheer's text, the
broadcaster (a badge, not the `mod` tag), timeouts vs bans vs a whole-chat clear, and the USERNOTICEs a
streamer thanks for (subs, gifted subs, raids) as `Alert`s the source words with its templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from bot.events import ChatEvent, EventKind, Role

MAX_LINE_BYTES = 8192 + 512
"""Twitch's limit for tags plus the IRC line; anything longer is malformed."""

_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_CHEER = re.compile(r"^([A-Za-z]+)(\d+)$")
_KNOWN_CHEERMOTES = frozenset(
    """cheer doodlecheer biblethump cheerwhal corgo uni showlove party seemsgood pride kappa frankerz heyguys
    dansgame elegiggle trihard kreygasm swiftrage notlikethis failfish vohiyo pjsalt mrdestructoid bday ripcheer
    shamrock bitboss streamlabs muxy holidaycheer goal anon""".split()  # noqa: SIM905 - a word list
)


@dataclass(frozen=True)
class IrcMessage:
    command: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    prefix: str = ""

    @property
    def nick(self) -> str:
        """The sender's login, from `nick!user@host`."""
        return self.prefix.split("!", 1)[0]

    @property
    def trailing(self) -> str:
        return self.params[-1] if self.params else ""


@dataclass(frozen=True)
class Skipped:
    """A line that maps to no event, and why (counted by the source)."""

    reason: str


@dataclass(frozen=True)
class Alert:
    """A USERNOTICE worth thanking for. The source turns it into speech with the streamer's templates, so
    this keeps the facts: who, which plan, how many, and what the viewer wrote with a resub."""

    kind: Literal["sub", "gift", "raid", "bits"]
    uid: int
    uname: str
    msg_id: str = ""
    role: Role = Role.VIEWER
    plan: str = ""
    """Prime, Tier 1, Tier 2 or Tier 3."""
    months: int = 0
    count: int = 0
    """Subs given (gift); viewers brought (raid); bits cheered (bits)."""
    price: float = 0.0
    """What it cost in USD (list price), for a paid event's priority."""
    message: str = ""
    """The text a viewer shared with their (re)sub, emotes removed."""


_PLANS = {"Prime": ("Prime", 4.99), "1000": ("Tier 1", 4.99), "2000": ("Tier 2", 9.99), "3000": ("Tier 3", 24.99)}


def unescape_tag(value: str) -> str:
    """IRCv3 tag-value unescaping: `\\:` -> `;`, `\\s` -> space, `\\\\` -> `\\`, `\\r`, `\\n`; an unknown
    escape drops the backslash; a trailing lone backslash is dropped."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        out.append(_UNESCAPE.get(nxt, nxt))
    return "".join(out)


def parse_line(line: str) -> IrcMessage:
    """One IRC line (without CR LF) -> IrcMessage; ValueError when it is not IRC."""
    if not line or len(line.encode("utf-8", "replace")) > MAX_LINE_BYTES or "\0" in line:
        raise ValueError("empty, too long or binary line")
    rest = line
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        for item in raw.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = unescape_tag(value)
    rest = rest.lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    middle, sep, trailing = rest.partition(" :")
    if rest.startswith(":"):  # no middle params, only a trailing one
        middle, sep, trailing = "", ":", rest[1:]
    words = middle.split()
    if not words:
        raise ValueError("no command")
    command = words[0].upper()
    if not (command.isalpha() or (command.isdigit() and len(command) == 3)):
        raise ValueError(f"bad command {command[:20]!r}")
    params = words[1:] + ([trailing] if sep else [])
    return IrcMessage(command=command, params=params, tags=tags, prefix=prefix)


def to_event(msg: IrcMessage, channel: str) -> ChatEvent | Alert | Skipped | None:
    """Map a chat line of `channel` to an event; None for lines that are not chat (membership, state,
    numerics), Skipped for chat that is deliberately not spoken."""
    if len(msg.params) < 1 or msg.params[0].lower() != f"#{channel}":
        return None
    if msg.command == "PRIVMSG":
        return _privmsg(msg)
    if msg.command == "CLEARCHAT":
        return _clearchat(msg)
    if msg.command == "USERNOTICE":
        return _usernotice(msg)
    if msg.command == "CLEARMSG":
        target = msg.tags.get("target-msg-id", "")
        if not target:
            return Skipped("malformed")
        return ChatEvent(text="", kind=EventKind.RECALL, msg_id=target, uname=msg.tags.get("login", ""))
    return None


def _privmsg(msg: IrcMessage) -> ChatEvent | Alert | Skipped:
    if len(msg.params) < 2:
        return Skipped("malformed")
    tags = msg.tags
    bits = _int(tags.get("bits", ""))
    text = _spoken_text(msg.trailing, tags.get("emotes", ""), bits)
    badges = _badges(tags.get("badges", ""))
    uid = _int(tags.get("user-id", ""))
    if not text and bits > 0:  # only cheermotes: thanked with the streamer's template, if any
        role = _role(badges, tags, uid)
        return Alert("bits", uid, _display_name(msg), tags.get("id", ""), role, count=bits, price=bits / 100)
    if not text:
        return Skipped("emote only")
    months = _int(_badges(tags.get("badge-info", "")).get("subscriber", ""))
    hype = _hype_chat_amount(tags)
    return ChatEvent(
        text=text,
        uid=uid,
        uname=_display_name(msg),
        kind=EventKind.SUPER_CHAT if bits > 0 or hype > 0 else EventKind.DANMAKU,
        msg_id=tags.get("id", ""),
        price=hype or bits / 100,  # 100 bits ~ 1 USD
        role=_role(badges, tags, uid),
        medal_level=months if "subscriber" in badges else 0,
        medal_name="subscriber" if "subscriber" in badges else "",
        home_medal="subscriber" in badges,  # a subscription is to this channel, like a home fan medal
    )


def _hype_chat_amount(tags: dict[str, str]) -> float:
    """A Hype Chat (a paid, pinned message) pays `pinned-chat-paid-amount` in minor units of its currency:
    1400 with exponent 2 is 14.00. 0 when the message is not one."""
    amount = _int(tags.get("pinned-chat-paid-amount", ""))
    exponent = min(_int(tags.get("pinned-chat-paid-exponent", "")), 8)
    return amount / 10**exponent if amount > 0 else 0.0


def _without_action(text: str) -> str:
    """`/me waves` arrives as CTCP ACTION (`\\x01ACTION waves\\x01`); an empty `/me` as `\\x01ACTION\\x01`."""
    if text.startswith("\x01ACTION") and text.endswith("\x01") and len(text) >= len("\x01ACTION\x01"):
        inner = text[len("\x01ACTION") : -1]
        if not inner or inner[0] == " ":
            return inner[1:]
    return text


def _spoken_text(text: str, emotes: str, bits: int) -> str:
    """What is read of a message (PRIVMSG or USERNOTICE): the /me wrapper, emotes (their ranges count in
    the text inside the wrapper) and a cheer's cheermotes removed."""
    text = _without_action(text)
    text = _without_emotes(text, emotes)
    if bits > 0:
        text = _without_cheermotes(text, bits)
    return " ".join(text.split())


def _display_name(msg: IrcMessage) -> str:
    return msg.tags.get("display-name", "").strip() or msg.tags.get("login", "") or msg.nick


def _usernotice(msg: IrcMessage) -> ChatEvent | Alert | Skipped | None:
    """Subs, resubs, gifted subs and raids become Alerts; a moderator's /announce is read like chat.
    Everything else Twitch announces this way (upgrades, bits badges, rituals) is not spoken."""
    tags = msg.tags
    notice = tags.get("msg-id", "")
    if notice == "announcement":
        return _privmsg(msg)
    uid = _int(tags.get("user-id", ""))
    plan, price = _PLANS.get(tags.get("msg-param-sub-plan", ""), ("Tier 1", 4.99))
    role = _role(_badges(tags.get("badges", "")), tags, uid)
    base = Alert(kind="sub", uid=uid, uname=_display_name(msg), msg_id=tags.get("id", ""), role=role, plan=plan)
    if notice in ("sub", "resub"):
        message = _spoken_text(msg.trailing, tags.get("emotes", ""), 0) if len(msg.params) > 1 else ""
        # msg-param-cumulative-months since 2019; older notices (and some clients' replays) carry only
        # msg-param-months.
        months = _int(tags.get("msg-param-cumulative-months", "")) or _int(tags.get("msg-param-months", ""))
        months = max(1, months)
        return replace(base, months=months, price=price, message=message)
    if notice == "subgift" and tags.get("msg-param-community-gift-id"):
        return Skipped("gift bundle part")  # one `submysterygift` line already counts the whole bundle
    if notice in ("subgift", "submysterygift"):
        count = max(1, _int(tags.get("msg-param-mass-gift-count", ""))) if notice == "submysterygift" else 1
        return replace(base, kind="gift", count=count, price=round(price * count, 2))
    if notice == "raid":
        raider = tags.get("msg-param-displayName", "").strip() or base.uname
        return replace(base, kind="raid", uname=raider, plan="", count=_int(tags.get("msg-param-viewerCount", "")))
    return None


def _clearchat(msg: IrcMessage) -> ChatEvent | Skipped:
    uid = _int(msg.tags.get("target-user-id", ""))
    if not uid:  # no target: a moderator cleared the whole chat (a line naming someone must carry the id)
        return ChatEvent(text="", kind=EventKind.CLEAR) if len(msg.params) < 2 else Skipped("malformed")
    seconds = _int(msg.tags.get("ban-duration", ""))
    uname = msg.params[1] if len(msg.params) > 1 else ""
    return ChatEvent(text="", kind=EventKind.BAN, uid=uid, uname=uname, mute_s=float(seconds) or None)


def _role(badges: dict[str, str], tags: dict[str, str], uid: int) -> Role:
    if "broadcaster" in badges or (uid and str(uid) == tags.get("room-id")):
        return Role.STREAMER
    if "moderator" in badges or tags.get("mod") == "1":
        return Role.MODERATOR
    return Role.VIEWER


def _badges(raw: str) -> dict[str, str]:
    """`broadcaster/1,subscriber/12` -> {'broadcaster': '1', 'subscriber': '12'}."""
    out = {}
    for item in raw.split(","):
        name, _, version = item.partition("/")
        if name:
            out[name] = version
    return out


def _without_emotes(text: str, emotes: str) -> str:
    """Blank out the emote ranges of the `emotes` tag (`25:0-4,12-16/1902:6-10`, code-point indices,
    inclusive); a malformed range is ignored rather than trusted."""
    if not emotes:
        return text
    chars = list(text)
    for emote in emotes.split("/"):
        _, _, ranges = emote.partition(":")
        for span in ranges.split(","):
            start, _, end = span.partition("-")
            if start.isdigit() and end.isdigit() and int(start) <= int(end) < len(chars):
                for i in range(int(start), int(end) + 1):
                    chars[i] = " "
    return "".join(chars)


def _without_cheermotes(text: str, bits: int) -> str:
    """Remove the cheermotes (`Cheer100`, `Kappa50`) from a cheer's text. Words shaped like one are removed
    when their amounts add up to the message's bits; otherwise only known cheermote names are."""
    words = text.split()
    shaped = {i: m for i, w in enumerate(words) if (m := _CHEER.match(w)) and int(m.group(2)) > 0}
    if sum(int(m.group(2)) for m in shaped.values()) == bits:
        drop = set(shaped)
    else:
        drop = {i for i, m in shaped.items() if m.group(1).lower() in _KNOWN_CHEERMOTES}
    return " ".join(w for i, w in enumerate(words) if i not in drop)


def _int(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 19 else 0
