"""Moderator commands and the state they change: who may do what, and doing it.

Control jumps ahead of data: a command acts the moment the reader sees it, through the one control path
(`bot/control.py`: skip cuts the utterance being heard, mute purges the viewer's messages from every
stage), it is never queued behind speech and never spoken. Chat, the console, the HTTP API and the
platform's own actions (bans, withdrawn messages, a cleared chat) all come through here, are counted
the same way and leave one shape of audit record.
Allowed for the room's streamer, its admins (the platform's flag), the uids in `moderation.moderators`
and the local operator; never for uid 0 (an anonymous viewer, or any viewer when the bot is not logged
in). Every command — done or refused — goes to the audit log, and every change of state is on disk
before the command counts as done (`bot/state_store.py`), so nothing a moderator did is lost to a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.commands import LAST_WORDS, RESET_WORDS, BadCommand, Command, Verb, parse_duration
from bot.config import Config
from bot.control import Controller, Pause, Resume, Skip, Withdraw
from bot.events import ChatEvent, EventKind, Role
from bot.state_store import ModerationState, MuteEntry, StateStore
from bot.viewers import Viewer, Viewers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    reply: str


@runtime_checkable
class Replier(Protocol):
    """Where a command's answer goes: a chat source that can post (Twitch, when logged in) or the log.
    Bilibili's send API is not built (see README): there the daemon logs the answer."""

    async def reply(self, text: str, to: ChatEvent) -> None: ...


class LogReplier:
    async def reply(self, text: str, to: ChatEvent) -> None:
        log.info("to %s: %s", to.uname or to.uid, text)


def _describe(seconds: float | None) -> str:
    if seconds is None:
        return "until unmuted"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"for {seconds / size:g}{unit}"
    return f"for {seconds:g}s"


class Moderator:
    def __init__(
        self,
        cfg: Config,
        store: StateStore,
        state: ModerationState,
        controller: Controller,
        viewers: Viewers,
        replier: Replier | None = None,
        status: Callable[[], str] = lambda: "",
        owner_uid: Callable[[], int] = lambda: 0,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.state = state
        self.control = controller
        self.viewers = viewers
        self.replier = replier or LogReplier()
        self.status = status
        self.owner_uid = owner_uid
        """The room owner's uid as the source learnt it at connect (0 = not known)."""
        self.commands = 0
        """Commands seen from chat, console and HTTP, done or refused."""
        self.reconfigure(cfg)

    def reconfigure(self, cfg: Config) -> None:
        """A (re)loaded config: saved voices that are no longer configured fall back to the default."""
        self.cfg = cfg
        state = self.state
        self._voice_ids = [v.id for v in cfg.voices]
        for uid, voice in list(state.voices.items()):
            if voice not in self._voice_ids:
                log.warning("viewer %d's voice %r is no longer configured; they get the default", uid, voice)
                del state.voices[uid]
        if state.default_voice is not None and state.default_voice not in self._voice_ids:
            log.warning(
                "the saved default voice %r is no longer configured; using %s",
                state.default_voice,
                cfg.default_voice_id,
            )
            state.default_voice = None

    @property
    def paused(self) -> bool:
        return self.control.paused

    # -- what the filter asks ------------------------------------------------------------------
    @property
    def default_voice(self) -> str:
        return self.state.default_voice or self.cfg.default_voice_id

    def voice_for(self, uid: int) -> str:
        return self.state.voices.get(uid, self.default_voice) if uid else self.default_voice

    def is_muted(self, uid: int) -> bool:
        return self.state.is_muted(uid)

    def allowed(self, event: ChatEvent) -> bool:
        if event.role == Role.OPERATOR:
            return True
        if not event.uid:
            return False
        return event.role in (Role.STREAMER, Role.MODERATOR) or event.uid in self.cfg.moderation.moderators

    # -- commands --------------------------------------------------------------------------------
    async def handle(self, event: ChatEvent, command: Command | BadCommand) -> CommandResult:
        """Check, do, save, audit and answer one command; never raises for bad input."""
        self.commands += 1
        verb = command.verb.value if isinstance(command, Command) else "?"
        allowed = self.allowed(event)
        if not allowed:
            result = CommandResult(False, "not allowed" + (" (anonymous viewer)" if not event.uid else ""))
        elif isinstance(command, BadCommand):
            result = CommandResult(False, command.reason)
        else:
            try:
                result = await self._do(event, command)
            except OSError as err:  # the state folder went away or filled up: say so, keep reading chat
                log.error("could not save moderation state in %s: %s", self.store.folder, err)
                result = CommandResult(False, f"done, but not saved ({err.strerror or err})")
        await self._audit(event, command.raw, verb, result)
        log.info(
            "command from %s (uid %d, %s): %s -> %s",
            event.uname,
            event.uid,
            event.role.value,
            command.raw[:80],
            result.reply,
        )
        if allowed:  # strangers get no answer: the bot must not become their megaphone
            await self.replier.reply(result.reply, event)
        return result

    async def _audit(self, event: ChatEvent, command: str, verb: str, result: CommandResult) -> None:
        """The one shape of audit record: who (uid, name, role), what (command, verb), and the outcome."""
        record = {
            "uid": event.uid,
            "uname": event.uname,
            "role": event.role.value,
            "command": command[:200],
            "verb": verb,
            "ok": result.ok,
            "result": result.reply,
        }
        try:
            await self.store.audit(record)
        except OSError as err:
            log.error("could not write the audit log %s: %s", self.store.audit_path, err)

    async def platform(self, event: ChatEvent) -> CommandResult:
        """The platform withdrew a message, banned a viewer or cleared the chat: what is still unheard is
        not spoken, and a ban is a mute that lasts (saved like a moderator's). A cleared chat drops the
        viewers' plain chat only: what was paid for, and the streamer's side, is still read."""
        if event.kind == EventKind.RECALL and event.msg_id:
            msg_id = event.msg_id
            n = self.withdraw(lambda e: e.msg_id == msg_id, "recalled")
            result = CommandResult(True, f"message {msg_id[:40]} withdrawn" + (" before it was heard" if n else ""))
        elif event.kind == EventKind.RECALL and event.uid:  # the platform withdrew one viewer's chat
            uid = event.uid
            n = self.withdraw(lambda e: e.uid == uid and e.kind == EventKind.DANMAKU, "recalled")
            result = CommandResult(True, f"uid {uid}'s chat was withdrawn: {n} unheard message(s) dropped")
        elif event.kind == EventKind.CLEAR:
            n = self.withdraw(lambda e: e.role == Role.VIEWER and e.kind == EventKind.DANMAKU, "chat_cleared")
            result = CommandResult(True, f"the room's chat was cleared: {n} unheard message(s) dropped")
        elif event.kind == EventKind.BAN and event.uid:
            verb = "timeout" if event.mute_s else "ban"
            how = f"muted for {event.mute_s:g} s" if event.mute_s else "muted"
            try:
                n = await self.mute(event.uid, event.uname, event.mute_s, by=f"room {verb}")
                result = CommandResult(True, f"room {verb} of {event.uname} (uid {event.uid}): {how}; {n} dropped")
            except OSError as err:
                result = CommandResult(False, f"room {verb} of uid {event.uid} not saved: {err.strerror or err}")
        else:
            return CommandResult(False, "nothing to do")
        log.info("%s", result.reply)
        await self._audit(event, f"room {event.kind.value}", event.kind.value, result)
        return result

    async def _do(self, event: ChatEvent, command: Command) -> CommandResult:
        args = command.args
        who = f"{event.uname or 'operator'} ({event.uid})"
        match command.verb:
            case Verb.SKIP:
                cut = self.control.apply(Skip()).cut
                return CommandResult(True, "skipped" if cut else "nothing was playing")
            case Verb.CLEAR:
                applied = self.control.apply(Withdraw(lambda e: True, "cleared"))
                also = "; cut the one being heard" if applied.cut else ""
                return CommandResult(True, f"cleared {applied.dropped} waiting message(s){also}")
            case Verb.PAUSE:
                self.control.apply(Pause())
                return CommandResult(True, "paused after the current message")
            case Verb.RESUME:
                self.control.apply(Resume())
                return CommandResult(True, "resumed")
            case Verb.STATUS:
                return CommandResult(True, self.status())
            case Verb.MUTE:
                if not args:
                    return CommandResult(False, "mute whom? (uid, @name or last)")
                target = self._target(args[0])
                if isinstance(target, str):
                    return CommandResult(False, target)
                try:
                    seconds = parse_duration(args[1]) if len(args) > 1 else None
                except ValueError as err:
                    return CommandResult(False, str(err))
                if seconds is not None and seconds > self.cfg.moderation.max_mute_s:
                    return CommandResult(False, f"longest timed mute is {_describe(self.cfg.moderation.max_mute_s)}")
                if self._protected(target):
                    return CommandResult(False, f"{target.name or target.uid} is a moderator; not muted")
                n = await self.mute(target.uid, target.name, seconds, by=who)
                return CommandResult(True, f"muted {target.name or target.uid} {_describe(seconds)}; {n} dropped")
            case Verb.UNMUTE:
                if not args:
                    return CommandResult(False, "unmute whom? (uid or @name)")
                target = self._target(args[0])
                if isinstance(target, str):
                    return CommandResult(False, target)
                entry = self.state.mutes.pop(target.uid, None)
                name = target.name or (entry.name if entry else "") or target.uid
                if entry is None:
                    return CommandResult(False, f"{name} was not muted")
                await self.store.save(self.state)
                return CommandResult(True, f"unmuted {name}")
            case Verb.VOICE:
                return await self._voice(args)
        return CommandResult(False, "unknown command")  # pragma: no cover - every Verb is matched above

    async def _voice(self, args: tuple[str, ...]) -> CommandResult:
        voices = ", ".join(self._voice_ids)
        if not args:
            return CommandResult(False, f"voice <id> [uid|@name]; voices: {voices}")
        voice = args[0]
        if len(args) == 1:
            if voice not in self._voice_ids:
                return CommandResult(False, f"no voice {voice[:24]!r}; voices: {voices}")
            self.state.default_voice = voice
            await self.store.save(self.state)
            return CommandResult(True, f"default voice is now {voice}")
        target = self._target(args[1])
        if isinstance(target, str):
            return CommandResult(False, target)
        if voice.casefold() in RESET_WORDS:
            self.state.voices.pop(target.uid, None)
            await self.store.save(self.state)
            return CommandResult(True, f"{target.name or target.uid} has the default voice again")
        if voice not in self._voice_ids:
            return CommandResult(False, f"no voice {voice[:24]!r}; voices: {voices}")
        self.state.voices[target.uid] = voice
        await self.store.save(self.state)
        return CommandResult(True, f"{target.name or target.uid} now speaks as {voice}")

    def _target(self, arg: str) -> Viewer | str:
        """A uid, `@name`, or `last`; a message saying why not otherwise."""
        if arg.casefold() in LAST_WORDS:
            heard = self.control.hearing.current or self.control.hearing.last
            if heard is None or not heard.event.uid:
                return "nobody identifiable was heard yet"
            last = heard.event
            return self.viewers.get(last.uid) or Viewer(last.uid, last.uname, last.role)
        if arg.isascii() and arg.isdigit():
            uid = int(arg)
            if not 0 < uid < 2**63:
                return f"not a uid: {arg[:24]}"
            return self.viewers.get(uid) or Viewer(uid, "", Role.VIEWER)
        return self.viewers.by_name(arg)

    def _protected(self, target: Viewer) -> bool:
        """The streamer and moderators cannot be muted, including before they have said anything."""
        return (
            target.role != Role.VIEWER
            or target.uid in self.cfg.moderation.moderators
            or target.uid in self.viewers.staff
            or target.uid == self.owner_uid()
        )

    def withdraw(self, matches: Callable[[ChatEvent], bool], reason: str) -> int:
        """Nothing whose event `matches` is heard from now on: dropped from every stage (counted under
        `reason`), and cut if it is being heard. Returns how many were dropped unheard."""
        return self.control.apply(Withdraw(matches, reason)).dropped

    async def mute(self, uid: int, name: str, seconds: float | None, by: str) -> int:
        """Mute `uid` (None = until unmuted), drop what they have waiting anywhere, cut them off if they
        are being heard, and save; returns how many unheard messages were dropped."""
        now = time.time()
        self.state.mutes[uid] = MuteEntry(
            uid=uid, name=name, until=None if seconds is None else now + seconds, by=by, at=now
        )
        n = self.withdraw(lambda event: event.uid == uid, "muted")
        await self.store.save(self.state)
        return n
