"""The Twitch source against a local IRC server over real TLS (a throwaway CA): login, tags, roles, bits,
timeouts, recalls, PING/PONG, RECONNECT, dropped connections, malformed lines, and the token's hygiene;
then the whole daemon moderated from Twitch chat."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.backoff import Backoff
from bot.config import parse_config
from bot.errors import ConfigError
from bot.events import ChatEvent, EventKind, Role, Utterance
from bot.pipeline import Daemon
from bot.sinks.controls import ImmediateControls
from bot.sources.twitch import TwitchSource
from bot.sources.twitch.credentials import load_twitch_credentials
from bot.sources.twitch.fake_server import FakeTwitchServer
from bot.sources.twitch.source import RECONNECT_ASKED, TwitchChatSource
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.testing.voice_clips import ZH_REF, ZH_TEXT
from tests.sources.twitch.test_irc import CAPTURES, privmsg, usernotice

Tls = tuple[ssl.SSLContext, ssl.SSLContext]
TOKEN = "abcdef0123456789abcdef0123456"
LOGIN_ENV = {"TWITCH_OAUTH_TOKEN": f"oauth:{TOKEN}", "TWITCH_LOGIN": "iShowBot"}


def twitch_cfg(port: int, **over: Any) -> TwitchSource:
    return TwitchSource.model_validate(
        {"type": "twitch", "channel": "#Dallas", "host": "127.0.0.1", "port": port, **over}
    )


class Running:
    def __init__(self, server: FakeTwitchServer, source: TwitchChatSource) -> None:
        self.server, self.source = server, source
        self.events: list[ChatEvent] = []

    async def collect(self) -> None:
        async for ev in self.source.events():
            self.events.append(ev)

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[ChatEvent]:
        await until(lambda: len(self.events) >= n, timeout, f"{n} events")
        return self.events

    async def joined(self, times: int = 1) -> None:
        await until(lambda: self.source.connects >= times and self.server.joined.is_set(), 10.0, f"join #{times}")


async def until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running(tls: Tls, environ: dict[str, str] | None = None, **cfg: Any) -> AsyncIterator[Running]:
    server = FakeTwitchServer(tls[0], channel="dallas", valid_token=TOKEN)
    await server.start()
    source = TwitchChatSource(
        twitch_cfg(server.port, **cfg),
        ssl_context=tls[1],
        backoff=Backoff(base_s=0.05, cap_s=0.2, stable_s=60),
        environ=environ or {},
    )
    run = Running(server, source)
    task = asyncio.create_task(run.collect())
    try:
        await run.joined()
        yield run
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.close()


@pytest.fixture(scope="module")
def tls() -> Tls:
    """A throwaway CA and a certificate for 127.0.0.1, where the fake Twitch server listens."""
    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


async def test_anonymous_login_and_messages_with_roles_bits_and_unicode(tls: Tls) -> None:
    async with running(tls) as run:
        sent = run.server.received
        assert sent[0] == "CAP REQ :twitch.tv/tags twitch.tv/commands"
        assert not any(line.startswith("PASS") for line in sent)
        nick = next(line for line in sent if line.startswith("NICK")).split()[1]
        assert nick.startswith("justinfan") and nick[9:].isdigit()
        assert "JOIN #dallas" in sent and run.source.connected
        await run.server.send(
            privmsg("主播好厉害", badges="broadcaster/1", **{"display-name": "达拉斯"}),
            privmsg("hi chat", badges="moderator/1", mod="1", **{"user-id": "55"}),
            privmsg("Cheer100 love\\sthe stream", bits="100", **{"user-id": "66"}),
            privmsg("Kappa", emotes="25:0-4"),
        )
        streamer, mod, cheer = await run.wait_for(3)
        assert (streamer.role, streamer.uname, streamer.text) == (Role.STREAMER, "达拉斯", "主播好厉害")
        assert (mod.role, mod.uid) == (Role.MODERATOR, 55)
        assert cheer.kind == EventKind.SUPER_CHAT and cheer.price == 1.0 and cheer.text == "love\\sthe stream"
        await until(lambda: run.source.drops["emote only"] == 1, 5, "the emote-only drop")


async def test_ping_pong_and_our_own_keepalive_ping(tls: Tls) -> None:
    async with running(tls, ping_every_s=1, silent_after_s=30) as run:
        await run.server.send("PING :tmi.twitch.tv")
        await until(lambda: "PONG :tmi.twitch.tv" in run.server.received, 5, "PONG")
        await until(lambda: "PING :tmi.twitch.tv" in run.server.received, 5, "our keepalive PING")
        assert run.source.connects == 1


async def test_malformed_lines_are_counted_and_the_connection_survives(tls: Tls) -> None:
    async with running(tls) as run:
        await run.server.send("", "@only-tags", "12 bad", privmsg("x").replace("PRIVMSG #dallas :x", "PRIVMSG"))
        await run.server.send_bytes(b"\xff\xfe PRIVMSG\x00 #dallas :binary\r\n" + b"y" * 20_000 + b"\r\n")
        await run.server.send(privmsg("still here"))
        (ev,) = await run.wait_for(1)
        assert ev.text == "still here"
        assert run.source.drops["malformed"] >= 4 and run.source.connects == 1


async def test_server_drop_reconnects_with_backoff_and_reconnect_command_at_once(tls: Tls) -> None:
    async with running(tls) as run:
        await run.server.drop_clients()
        await run.joined(times=2)
        await run.server.send("RECONNECT")
        await run.joined(times=3)
        assert run.source.reconnect_reasons[:2] == [
            "the server closed the connection",
            "the server asked us to reconnect (RECONNECT)",
        ]
        await run.server.send(privmsg("after reconnect"))
        assert (await run.wait_for(1))[0].text == "after reconnect"


async def test_a_reconnect_before_the_welcome_is_followed_soon_and_is_no_failure(tls: Tls) -> None:
    """Maintenance may start between our JOIN and Twitch's welcome: the long backoff of a failed connect
    (up to 30 s here) would leave the chat unread for nothing."""
    server = FakeTwitchServer(tls[0], channel="dallas")
    server.reconnect_before_welcome = 1
    await server.start()
    backoff = Backoff(base_s=30.0, cap_s=60.0, stable_s=60.0)
    source = TwitchChatSource(twitch_cfg(server.port), ssl_context=tls[1], backoff=backoff, environ={})
    run = Running(server, source)
    task = asyncio.create_task(run.collect())
    try:
        await run.joined()
        assert server.connections == 2 and source.reconnect_reasons == [RECONNECT_ASKED]
        assert source._supervisor.stats.failures == 0 and backoff.attempt == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.close()


async def test_a_silent_server_is_left_and_rejoined(tls: Tls) -> None:
    async with running(tls, ping_every_s=1, silent_after_s=2) as run:
        run.server.answer_pings = False
        await run.joined(times=2)
        assert run.source.reconnect_reasons[0] == "nothing received for 2 s"


async def test_clearchat_and_clearmsg_become_ban_and_recall(tls: Tls) -> None:
    async with running(tls) as run:
        await run.server.send(
            "@ban-duration=600;room-id=1337;target-user-id=42;tmi-sent-ts=1 :tmi.twitch.tv CLEARCHAT #dallas :troll",
            "@login=troll;room-id=;target-msg-id=m-1;tmi-sent-ts=1 :tmi.twitch.tv CLEARMSG #dallas :bad words",
            "@room-id=1337;tmi-sent-ts=1 :tmi.twitch.tv CLEARCHAT #dallas",
        )
        ban, recall, clear = await run.wait_for(3)
        assert (ban.kind, ban.uid, ban.mute_s) == (EventKind.BAN, 42, 600.0)
        assert (recall.kind, recall.msg_id) == (EventKind.RECALL, "m-1")
        assert clear.kind == EventKind.CLEAR


async def test_subs_gifts_and_raids_are_worded_with_the_streamers_templates(tls: Tls) -> None:
    templates = {
        "sub_template": "Thanks {uname} for the {plan} sub, {months} months!",
        "gift_template": "{uname} gifted {count} subs!",
        "raid_template": "Welcome raiders from {uname}, all {viewers} of you!",
        "bits_template": "Thanks {uname} for {bits} bits!",
    }
    notices = (
        usernotice("resub", "love this Kappa", emotes="25:10-14", **{"msg-param-cumulative-months": "7"}),
        usernotice("submysterygift", **{"msg-param-mass-gift-count": "3", "msg-param-community-gift-id": "g1"}),
        usernotice("subgift", **{"msg-param-community-gift-id": "g1", "msg-param-recipient-display-name": "a"}),
        usernotice("raid", **{"msg-param-displayName": "BigStreamer", "msg-param-viewerCount": "120"}),
        privmsg("Cheer500", bits="500"),
    )
    async with running(tls, **templates) as run:
        await run.server.send(*notices)
        sub, gift, raid, bits = await run.wait_for(4)
        assert (sub.kind, sub.text) == (EventKind.GUARD, "Thanks Ronni for the Tier 1 sub, 7 months! love this")
        assert (gift.kind, gift.text, gift.price) == (EventKind.GIFT, "Ronni gifted 3 subs!", 14.97)
        assert (raid.kind, raid.text) == (EventKind.GIFT, "Welcome raiders from BigStreamer, all 120 of you!")
        assert (bits.kind, bits.text, bits.price) == (EventKind.GIFT, "Thanks ronni for 500 bits!", 5.0)
        await until(lambda: run.source.drops["gift bundle part"] == 1, 5, "the bundle's part")
    async with running(tls) as run:  # no templates: only what the viewer wrote with the resub is read
        await run.server.send(*notices, privmsg("after"))
        resub, after = await run.wait_for(2)
        assert (resub.kind, resub.text, resub.uid) == (EventKind.GUARD, "love this", 87654321)
        assert after.text == "after" and run.source.ignored >= 2
        assert run.source.drops["cheer without text"] == 1


def test_a_template_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="raid_template"):
        twitch_cfg(6697, raid_template="{uname} brought {count}")


async def test_the_token_logs_in_and_is_never_logged(tls: Tls, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(tls, environ=LOGIN_ENV) as run:
        assert f"PASS oauth:{TOKEN}" in run.server.received and "NICK ishowbot" in run.server.received
        await run.source.reply("muted troll", ChatEvent(text="#tts mute @troll", uname="mod", msg_id="abc-1"))
        await until(lambda: any("PRIVMSG" in line for line in run.server.received), 5, "the reply")
        assert "@reply-parent-msg-id=abc-1 PRIVMSG #dallas :muted troll" in run.server.received
        # an answer is never a chat command run as the bot, nor a second IRC line
        await run.source.reply("/ban streamer\r\nPRIVMSG #dallas :injected", ChatEvent(text="x", msg_id="bad id!"))
        await until(lambda: sum("PRIVMSG" in line for line in run.server.received) >= 2, 5, "the second reply")
        assert run.server.received[-1] == "PRIVMSG #dallas :» /ban streamer PRIVMSG #dallas :injected"
        assert TOKEN not in repr(run.source.creds) and TOKEN not in str(vars(run.source))
    assert caplog.records and not any(TOKEN in r.getMessage() for r in caplog.records)


async def test_a_refused_token_is_reported_without_the_token(tls: Tls, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeTwitchServer(tls[0], channel="dallas", valid_token="somethingelse0123")
    await server.start()
    source = TwitchChatSource(
        twitch_cfg(server.port), ssl_context=tls[1], backoff=Backoff(base_s=0.05, cap_s=0.1), environ=LOGIN_ENV
    )
    task = asyncio.create_task(anext(aiter(source.events())))
    try:
        await until(lambda: len(source.reconnect_reasons) >= 2, 10, "two refusals")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.close()
    assert source.reconnect_reasons[0] == "the server refused the login: Login authentication failed"
    assert not source.connected and source.connects == 0
    assert not any(TOKEN in r.getMessage() for r in caplog.records)


async def test_anonymous_sources_do_not_post_replies(tls: Tls) -> None:
    async with running(tls) as run:
        await run.source.reply("hello", ChatEvent(text="x", msg_id="m"))
        await asyncio.sleep(0.2)
        assert not any("PRIVMSG" in line for line in run.server.received)


def test_credentials_need_a_login_and_a_private_file(tmp_path: Path) -> None:
    assert not load_twitch_credentials(None, {}).logged_in
    with pytest.raises(ConfigError, match="TWITCH_LOGIN"):
        load_twitch_credentials(None, {"TWITCH_OAUTH_TOKEN": TOKEN})
    with pytest.raises(ConfigError, match="not a Twitch OAuth token") as err:
        load_twitch_credentials(None, {"TWITCH_OAUTH_TOKEN": "oauth:bad token!", "TWITCH_LOGIN": "me"})
    assert "bad token" not in str(err.value)
    f = tmp_path / "twitch.env"
    f.write_text(f"TWITCH_OAUTH_TOKEN=oauth:{TOKEN}\nTWITCH_LOGIN=Me_Bot\n", encoding="utf-8")
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as err:
        load_twitch_credentials(str(f), {})
    assert TOKEN not in str(err.value)
    f.chmod(0o600)
    creds = load_twitch_credentials(str(f), {})
    assert (creds.token, creds.login) == (TOKEN, "me_bot") and TOKEN not in repr(creds)


def test_config_normalises_the_channel_and_refuses_bad_names() -> None:
    assert twitch_cfg(6697).channel == "dallas"
    with pytest.raises(ValueError):
        twitch_cfg(6697, channel="no spaces allowed")


# -- the whole daemon, moderated from Twitch chat ------------------------------------------------------


class RecordingSink(ImmediateControls):
    def __init__(self) -> None:
        self.played: list[Utterance] = []

    async def write(self, utterance: Utterance) -> None:
        self.played.append(utterance)

    async def close(self) -> None:
        pass


async def test_moderators_command_the_daemon_from_twitch_chat(tls: Tls, tmp_path: Path) -> None:
    server = FakeTwitchServer(tls[0], channel="dallas", valid_token=TOKEN)
    await server.start()
    cfg = parse_config(
        {
            "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": ZH_TEXT}],
            "source": {"type": "twitch", "channel": "dallas", "host": "127.0.0.1", "port": server.port},
            "output": {"type": "null"},
            "moderation": {"prefixes": ["!tts"]},
            "http": {"enabled": False},
            "state_dir": str(tmp_path / "state"),
        },
        tmp_path / "config.yaml",
    )
    assert isinstance(cfg.source, TwitchSource)
    source = TwitchChatSource(
        cfg.source, ssl_context=tls[1], backoff=Backoff(base_s=0.05, cap_s=0.1), environ=LOGIN_ENV
    )
    sink = RecordingSink()
    daemon = Daemon(cfg, source, lambda: FakeSynthesizer(voices=["zh"]), sink)
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: daemon.ready, 20, "the daemon to be ready")
        viewer = {"user-id": "42", "display-name": "troll"}
        await server.send(
            privmsg("first from troll", id="t-1", **viewer),
            privmsg("!tts mute @troll 10m", id="v-1", **{"user-id": "43", "display-name": "viewer"}),
            privmsg("!tts mute @troll 10m", id="m-1", badges="moderator/1", **{"user-id": "55", "display-name": "mod"}),
            privmsg("second from troll", id="t-2", **viewer),
            privmsg("hello from a viewer", id="v-2", **{"user-id": "43", "display-name": "viewer"}),
            "@ban-duration=60;room-id=1337;target-user-id=44;tmi-sent-ts=1 :tmi.twitch.tv CLEARCHAT #dallas :spammer",
            privmsg("spam after timeout", id="s-1", **{"user-id": "44", "display-name": "spammer"}),
            privmsg("last one", id="v-3", **{"user-id": "43", "display-name": "viewer"}),
        )
        await until(lambda: any(u.request.text.endswith("last one") for u in sink.played), 20, "the last message")
        await until(lambda: any("PRIVMSG" in line for line in server.received), 5, "the answer")
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
        await server.close()
    spoken = " | ".join(u.request.text for u in sink.played)
    assert "hello from a viewer" in spoken
    # The troll's first message was either heard before the mute, or withdrawn by it wherever it waited
    # (queue, synthesis, output): the later one and the spam are turned away as muted in any case.
    assert ("first from troll" in spoken) == (daemon.ledger.drops["muted"] == 2), (spoken, daemon.ledger.drops)
    assert "second from troll" not in spoken and "spam after timeout" not in spoken and "!tts" not in spoken
    # the moderator gets an answer in the chat; the viewer who tried gets none (no megaphone for strangers)
    (reply,) = [line for line in server.received if "PRIVMSG" in line]
    assert reply.startswith("@reply-parent-msg-id=m-1 PRIVMSG #dallas :")
    mutes = daemon.moderator.state.mutes
    assert mutes[42].until is not None and mutes[44].until is not None and mutes[44].by == "room timeout"


async def test_a_bug_on_one_line_reconnects_instead_of_ending_the_source(
    tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.sources.twitch import source as twitch

    real = twitch.to_event

    def broken(msg: Any, channel: str) -> Any:
        if msg.trailing == "boom":
            raise IndexError("a bug")
        return real(msg, channel)

    async with running(tls) as run:
        monkeypatch.setattr(twitch, "to_event", broken)
        await run.server.send(privmsg("boom"))
        await run.joined(times=2)
        assert run.source.reconnect_reasons[0] == "unexpected error: IndexError"
        await run.server.send(privmsg("fine again"))
        assert (await run.wait_for(1))[0].text == "fine again"


def test_silence_must_outlast_the_ping_interval() -> None:
    with pytest.raises(ValueError, match="silent_after_s"):
        twitch_cfg(6697, ping_every_s=60, silent_after_s=30)


async def test_a_hype_chat_jumps_the_waiting_chat_as_a_paid_message(tls: Tls, tmp_path: Path) -> None:
    server = FakeTwitchServer(tls[0], channel="dallas")
    await server.start()
    cfg = parse_config(
        {
            "voices": [{"id": "zh", "ref_audio": ZH_REF, "ref_text": ZH_TEXT}],
            "source": {"type": "twitch", "channel": "dallas", "host": "127.0.0.1", "port": server.port},
            "output": {"type": "null"},
            "http": {"enabled": False},
            "state_dir": str(tmp_path / "state"),
        },
        tmp_path / "config.yaml",
    )
    assert isinstance(cfg.source, TwitchSource)
    source = TwitchChatSource(cfg.source, ssl_context=tls[1], backoff=Backoff(base_s=0.05, cap_s=0.1), environ={})
    synth = FakeSynthesizer(voices=["zh"], delay_s=1.0)
    sink = RecordingSink()
    daemon = Daemon(cfg, source, lambda: synth, sink)
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: daemon.ready, 20, "the daemon to be ready")
        await server.send(privmsg("first in line", id="a-1", **{"user-id": "41"}))
        await until(lambda: bool(synth.calls), 10, "the first message in synthesis")
        chat = [privmsg(f"waiting chat {i}", id=f"w-{i}", **{"user-id": str(50 + i)}) for i in range(3)]
        hype = CAPTURES[0].replace("#pajlada", "#dallas")  # Chatterino's capture: NOK 14.00
        await server.send(*chat, hype)
        await until(lambda: len(sink.played) == 5, 30, "every message")
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
        await server.close()
    order = [u.request for u in sink.played]
    assert order[1].text.endswith("Title: Beating the record. but who is recordingLOL"), [r.text for r in order]
    assert order[1].paid and order[1].event.kind == EventKind.SUPER_CHAT and order[1].event.price == 14.0
    assert [r.paid for r in order[2:]] == [False, False, False]
