"""From a chat event to what will be spoken, or a counted reason not to speak it.

The order of the rules matters and is fixed: who sent it (ignored, muted), then what it says (cleaned,
links, blocklist, emoticons, runs, symbols, names), then whether it is worth saying (speakable, long
enough, not a duplicate, the viewer within their rate), then how (template, voice, priority). Cheap
checks come first so a flood costs little. `apply` never raises and its output is bounded in length
whatever arrives (see tests/test_filters.py's property test).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import TextConfig
from bot.events import CONTROL_KINDS, PAID_KINDS, ChatEvent, EventKind, Priority, Role, SpeechRequest
from bot.limits import RecentTexts, TokenBuckets
from bot.speech.emoji import EmojiNames
from bot.text import clean_template, clean_text, is_speakable
from bot.text_rules import (
    Blocklist,
    Substitutions,
    collapse_runs,
    has_link,
    replace_emoticons,
    replace_links,
    speech_length,
    starts_with_any,
    truncate,
)

MAX_NAME_CHARS = 24
"""A viewer's name is read at most this long (some names are whole sentences)."""


@dataclass(frozen=True)
class Dropped:
    reason: str


def priority_of(event: ChatEvent) -> Priority:
    if event.role != Role.VIEWER or event.kind == EventKind.SUPER_CHAT:
        return Priority.URGENT
    if event.guard_level > 0 or event.kind == EventKind.GUARD:
        return Priority.GUARD
    if event.kind == EventKind.GIFT:
        return Priority.GIFT
    if event.home_medal:
        return Priority.MEDAL
    return Priority.VIEWER


def _exempt(event: ChatEvent) -> bool:
    """The streamer's side and paying viewers are never rate-limited or deduplicated."""
    return event.role != Role.VIEWER or event.kind in PAID_KINDS


class MessageFilter:
    def __init__(
        self,
        cfg: TextConfig,
        voice_for: Callable[[int], str],
        is_muted: Callable[[int], bool] = lambda uid: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.voice_for = voice_for
        """The voice for a uid: a moderator may have given a viewer their own; else the default."""
        self.is_muted = is_muted
        self.seq = 0
        self._blocklist = Blocklist(cfg.blocklist)
        self._symbols = Substitutions(cfg.symbols)
        self._aliases = Substitutions(cfg.aliases)
        self._emoji = EmojiNames(cfg.emoji)
        self._ignored_uids = {u for u in cfg.ignore_users if isinstance(u, int)}
        self._ignored_names = {u.casefold() for u in cfg.ignore_users if isinstance(u, str)}
        self._recent = RecentTexts(cfg.duplicate_window_s, clock=clock)
        rate = cfg.rate_limit
        self._buckets = TokenBuckets(rate.burst, rate.per_minute, clock=clock) if rate else None
        # What is said beside a message, cleaned once here: what the filter hands on is clean as a whole.
        templates = cfg.templates
        self._templates = {kind: clean_template(getattr(templates, kind)) for kind in type(templates).model_fields}
        self._cue = clean_text(cfg.truncation_cue, MAX_NAME_CHARS)
        self._blocked_name = clean_text(cfg.blocked_name, MAX_NAME_CHARS)

    def _template(self, kind: EventKind) -> str:
        return self._templates.get(kind.value, self._templates["danmaku"])

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def speakable_text(self, raw: str) -> str | Dropped:
        """The rewriting half of the filter (no per-viewer state): what would be said of `raw`."""
        cfg = self.cfg
        # emoji named before the cleaner drops symbols; clean_text reads no more than this of `raw` either
        text = clean_text(self._emoji.say(raw[: cfg.max_chars * 16]), cfg.max_chars * 4)
        if cfg.links != "keep" and has_link(text):
            if cfg.links == "drop":
                return Dropped("link")
            text = replace_links(text, cfg.link_word)
        blocked = self._blocklist.apply(text)
        if blocked is None:
            return Dropped("blocklist")
        text = replace_emoticons(blocked, cfg.emoticons, keep_unknown=cfg.unknown_emoticons == "keep")
        text = collapse_runs(text, cfg.max_repeat)
        text = self._aliases.apply(self._symbols.apply(text))
        text = clean_text(text, cfg.max_chars * 4)
        if not is_speakable(text):
            return Dropped("unspeakable")
        if speech_length(text) < cfg.min_chars:
            return Dropped("too_short")
        text, cut = truncate(text, cfg.max_chars)
        if cut and self._cue:
            wide = bool(text) and speech_length(text[-1]) == 1.0
            text = f"{text}{'，' if wide else ', '}{self._cue}"
        return text

    def speakable_name(self, uname: str) -> str | None:
        """The name as said, or None when it carries a link or a blocked word: templates read names aloud,
        so a name is held to the same rules as a message (`加我qq12345678` as a super chat's sender)."""
        name = clean_text(uname, MAX_NAME_CHARS)
        if (self.cfg.links != "keep" and has_link(name)) or self._blocklist.apply(name) != name:
            return None
        return clean_text(self._aliases.apply(name), 2 * MAX_NAME_CHARS)

    def thanks(self, event: ChatEvent) -> SpeechRequest | Dropped:
        """A paid message whose text is not to be read (it was a command): its template with an empty text,
        `小明的醒目留言`; nothing when the template says nothing else."""
        if event.role == Role.VIEWER and event.uid and self.is_muted(event.uid):
            return Dropped("muted")
        template = self._template(event.kind)
        name = self.speakable_name(event.uname)
        said = template.format(uname=self._blocked_name if name is None else name, text="")
        said = clean_text(said, 4 * MAX_NAME_CHARS).rstrip(" ：:，,")
        if not is_speakable(said):
            return Dropped("unspeakable")
        return SpeechRequest(said, self.voice_for(event.uid), event, self.next_seq(), priority_of(event))

    def apply(self, event: ChatEvent) -> SpeechRequest | Dropped:
        if event.kind in CONTROL_KINDS:
            return Dropped("control")
        if event.role == Role.VIEWER:
            if event.uid in self._ignored_uids or event.uname.casefold() in self._ignored_names:
                return Dropped("ignored_user")
            if event.uid and self.is_muted(event.uid):
                return Dropped("muted")
            if event.kind == EventKind.DANMAKU and starts_with_any(event.text.lstrip(), self.cfg.ignore_prefixes):
                return Dropped("bot_command")
        text = self.speakable_text(event.text)
        if isinstance(text, Dropped):
            return text
        if not _exempt(event):
            if self.cfg.duplicate_window_s > 0 and self._recent.seen_recently(text.casefold()):
                return Dropped("duplicate")
            # Anonymous viewers (uid 0: the bot is not logged in) cannot be told apart: no per-viewer limit.
            if self._buckets is not None and event.uid and not self._buckets.allow(event.uid):
                return Dropped("rate_limited")
        template = self._template(event.kind)
        name = self.speakable_name(event.uname)
        if name is None and not self._blocked_name:
            template = "{text}"
        spoken = template.format(uname=self._blocked_name if name is None else name, text=text)
        nameless = text if "{uname}" in template else ""
        return SpeechRequest(
            text=spoken,
            voice=self.voice_for(event.uid),
            event=event,
            seq=self.next_seq(),
            priority=priority_of(event),
            nameless_text=nameless,
        )
