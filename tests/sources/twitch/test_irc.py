"""Twitch IRC lines (real formats, from Twitch's documentation and captures) -> IrcMessage -> ChatEvent."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.events import ChatEvent, EventKind, Role
from bot.sources.twitch.irc import Alert, Skipped, parse_line, to_event, unescape_tag

CH = "dallas"
FIXTURES = Path(__file__).parents[1] / "fixtures"
CAPTURES = (FIXTURES / "twitch-hype-chat-and-legacy-resub.txt").read_text(encoding="utf-8").splitlines()
"""A Hype Chat (Chatterino's snapshot) and a resub with only msg-param-months (go-twitch-irc's tests): see
fixtures/SOURCES.md."""


def privmsg(text: str, **tags: str) -> str:
    base = {
        "badge-info": "",
        "badges": "",
        "color": "#0D4200",
        "display-name": "ronni",
        "emotes": "",
        "id": "b34ccfc7-4977-403a-8a94-33c6bac34fb8",
        "mod": "0",
        "room-id": "1337",
        "subscriber": "0",
        "tmi-sent-ts": "1507246572675",
        "turbo": "1",
        "user-id": "1337000",
        "user-type": "",
    }
    base.update(tags)
    tag_str = ";".join(f"{k}={v}" for k, v in base.items())
    return f"@{tag_str} :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #{CH} :{text}"


def event(line: str) -> ChatEvent:
    out = to_event(parse_line(line), CH)
    assert isinstance(out, ChatEvent), out
    return out


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("hello\\sworld", "hello world"),
        ("a\\:b", "a;b"),
        ("back\\\\slash", "back\\slash"),
        ("cr\\rlf\\n", "cr\rlf\n"),
        ("unknown\\q", "unknownq"),
        ("trailing\\", "trailing"),
        ("plain", "plain"),
    ],
)
def test_tag_values_unescape(raw: str, want: str) -> None:
    assert unescape_tag(raw) == want


def test_a_viewer_message_maps_every_field() -> None:
    ev = event(privmsg("Kappa Keepo Kappa", **{"display-name": "Ronni\\sthe\\:Great"}))
    assert ev.text == "Kappa Keepo Kappa"  # no emotes tag: words, not emotes
    assert ev.uname == "Ronni the;Great"
    assert (ev.uid, ev.role, ev.kind) == (1337000, Role.VIEWER, EventKind.DANMAKU)
    assert ev.msg_id == "b34ccfc7-4977-403a-8a94-33c6bac34fb8"


def test_unicode_display_names_and_text() -> None:
    ev = event(privmsg("안녕하세요 主播好 🎉", **{"display-name": "한국어이름"}))
    assert ev.uname == "한국어이름" and ev.text == "안녕하세요 主播好 🎉"
    assert event(privmsg("hi", **{"display-name": ""})).uname == "ronni"  # falls back to the login


@pytest.mark.parametrize(
    ("tags", "role"),
    [
        ({"badges": "broadcaster/1,subscriber/12"}, Role.STREAMER),
        ({"badges": "", "user-id": "1337", "room-id": "1337"}, Role.STREAMER),  # own channel, badge hidden
        ({"badges": "moderator/1", "mod": "1"}, Role.MODERATOR),
        ({"badges": "", "mod": "1"}, Role.MODERATOR),
        ({"badges": "vip/1", "mod": "0"}, Role.VIEWER),
        ({"badges": "subscriber/3", "mod": "0"}, Role.VIEWER),
    ],
)
def test_roles_from_badges_not_only_the_mod_tag(tags: dict[str, str], role: Role) -> None:
    assert event(privmsg("hi", **tags)).role == role


def test_subscribers_rank_like_home_medal_holders() -> None:
    ev = event(privmsg("hi", badges="subscriber/12", **{"badge-info": "subscriber/14"}))
    assert ev.home_medal and ev.medal_level == 14 and ev.medal_name == "subscriber"
    assert not event(privmsg("hi")).home_medal


def test_emote_ranges_are_dropped_and_emote_only_is_not_spoken() -> None:
    # "Kappa hello Keepo": Kappa 0-4, Keepo 12-16 (code points)
    ev = event(privmsg("Kappa hello Keepo", emotes="25:0-4/1902:12-16"))
    assert ev.text == "hello"
    assert to_event(parse_line(privmsg("Kappa Kappa", emotes="25:0-4,6-10")), CH) == Skipped("emote only")
    # indices count code points: an emoji before the emote does not shift it
    assert event(privmsg("🎉 Kappa go", emotes="25:2-6")).text == "🎉 go"
    # a malformed or out-of-range span is ignored, not trusted
    assert event(privmsg("hello", emotes="25:3-99/x:y-z")).text == "hello"


def test_bits_are_paid_and_cheermotes_are_not_read() -> None:
    ev = event(privmsg("Cheer100 great stream Cheer50", bits="150"))
    assert ev.kind == EventKind.SUPER_CHAT and ev.price == 1.5 and ev.text == "great stream"
    # amounts that do not add up: only known cheermote names go, other word+number words stay
    assert event(privmsg("Cheer100 team42 rocks", bits="100")).text == "team42 rocks"
    assert event(privmsg("Kappa100 abc1 x", bits="150")).text == "abc1 x"
    wordless = to_event(parse_line(privmsg("Cheer100", bits="100")), CH)  # thanked only with bits_template
    assert isinstance(wordless, Alert) and (wordless.kind, wordless.count, wordless.price) == ("bits", 100, 1.0)


def test_me_action_messages_are_read_without_the_ctcp_wrapper() -> None:
    assert event(privmsg("\x01ACTION waves hello\x01")).text == "waves hello"
    assert to_event(parse_line(privmsg("\x01ACTION\x01")), CH) == Skipped("emote only")  # an empty /me
    assert to_event(parse_line(privmsg("\x01ACTION \x01")), CH) == Skipped("emote only")
    # not CTCP ACTION: read as text, its control characters dropped where the event is built (bot/sanitize.py)
    assert event(privmsg("\x01ACTIONS are words\x01")).text == "ACTIONS are words"


def test_a_hype_chat_is_a_paid_message_in_its_own_currency() -> None:
    line = CAPTURES[0].replace("#pajlada", f"#{CH}")
    ev = event(line)  # pinned-chat-paid-amount=1400, exponent 2, NOK
    assert (ev.kind, ev.price, ev.uname, ev.text) == (
        EventKind.SUPER_CHAT,
        14.0,
        "matrHS",
        "Title: Beating the record. but who is recordingLOL",
    )
    assert event(privmsg("hi", **{"pinned-chat-paid-amount": "500"})).price == 500.0  # no exponent: whole units
    assert event(privmsg("hi", **{"pinned-chat-paid-amount": "0"})).kind == EventKind.DANMAKU


def test_clearchat_timeout_ban_and_whole_chat() -> None:
    timeout = event(
        "@ban-duration=350;room-id=12345678;target-user-id=87654321;tmi-sent-ts=1642715756806 "
        f":tmi.twitch.tv CLEARCHAT #{CH} :ronni"
    )
    assert (timeout.kind, timeout.uid, timeout.uname, timeout.mute_s) == (EventKind.BAN, 87654321, "ronni", 350.0)
    ban = event(f"@room-id=12345678;target-user-id=87654321;tmi-sent-ts=1 :tmi.twitch.tv CLEARCHAT #{CH} :ronni")
    assert ban.kind == EventKind.BAN and ban.mute_s is None
    whole = event(f"@room-id=12345678;tmi-sent-ts=1642715695392 :tmi.twitch.tv CLEARCHAT #{CH}")
    assert (whole.kind, whole.uid) == (EventKind.CLEAR, 0)
    nameless = f"@room-id=12345678;tmi-sent-ts=1 :tmi.twitch.tv CLEARCHAT #{CH} :ronni"
    assert to_event(parse_line(nameless), CH) == Skipped("malformed")  # names someone, without their id


def usernotice(msg_id: str, text: str | None = None, **tags: str) -> str:
    """A USERNOTICE as in Twitch's IRC reference (tags abridged to the ones Twitch always sends)."""
    base = {
        "badge-info": "subscriber/6",
        "badges": "subscriber/6,premium/1",
        "display-name": "Ronni",
        "emotes": "",
        "id": "db25007f-7a18-43eb-9379-80131e44d633",
        "login": "ronni",
        "mod": "0",
        "msg-id": msg_id,
        "room-id": "12345678",
        "system-msg": "ronni\\shas\\ssubscribed!",
        "tmi-sent-ts": "1507246572675",
        "user-id": "87654321",
        "user-type": "",
    }
    base.update(tags)
    tag_str = ";".join(f"{k}={v}" for k, v in base.items())
    return f"@{tag_str} :tmi.twitch.tv USERNOTICE #{CH}" + (f" :{text}" if text is not None else "")


def alert(line: str) -> Alert:
    out = to_event(parse_line(line), CH)
    assert isinstance(out, Alert), out
    return out


def test_subs_and_resubs_carry_plan_months_price_and_the_shared_message() -> None:
    resub = alert(
        usernotice(
            "resub",
            "Great stream Kappa keep it up!",
            emotes="25:13-17",
            **{"msg-param-cumulative-months": "6", "msg-param-sub-plan": "Prime", "msg-param-streak-months": "2"},
        )
    )
    assert (resub.kind, resub.uid, resub.uname, resub.plan, resub.months) == ("sub", 87654321, "Ronni", "Prime", 6)
    assert resub.message == "Great stream keep it up!" and resub.price == 4.99
    assert resub.msg_id == "db25007f-7a18-43eb-9379-80131e44d633"
    first = alert(usernotice("sub", **{"msg-param-cumulative-months": "1", "msg-param-sub-plan": "3000"}))
    assert (first.plan, first.months, first.price, first.message) == ("Tier 3", 1, 24.99, "")


def test_a_legacy_resub_with_only_msg_param_months_counts_its_months() -> None:
    legacy = alert(CAPTURES[1].replace("#nothing", f"#{CH}"))
    assert (legacy.kind, legacy.months, legacy.plan, legacy.uname) == ("sub", 16, "Prime", "blahh")


def test_a_me_inside_a_resub_is_read_without_action() -> None:
    shared = alert(usernotice("resub", "\x01ACTION dances Kappa\x01", emotes="25:7-11"))
    assert shared.message == "dances"
    empty = alert(usernotice("resub", "\x01ACTION\x01"))
    assert empty.message == ""


def test_gifted_subs_are_thanked_once_per_bundle() -> None:
    bundle = "5f9a3c1e-aaaa"
    mystery = alert(
        usernotice(
            "submysterygift",
            **{"msg-param-mass-gift-count": "5", "msg-param-sub-plan": "1000", "msg-param-community-gift-id": bundle},
        )
    )
    assert (mystery.kind, mystery.count, mystery.plan, mystery.price) == ("gift", 5, "Tier 1", 24.95)
    part = usernotice(
        "subgift",
        **{"msg-param-recipient-display-name": "Mr_Woodchuck", "msg-param-community-gift-id": bundle},
    )
    assert to_event(parse_line(part), CH) == Skipped("gift bundle part")
    single = alert(
        usernotice("subgift", **{"msg-param-recipient-display-name": "Mr_Woodchuck", "msg-param-sub-plan": "2000"})
    )
    assert (single.kind, single.count, single.uname, single.plan) == ("gift", 1, "Ronni", "Tier 2")


def test_a_raid_names_the_raiding_channel_and_its_viewers() -> None:
    raid = alert(
        usernotice(
            "raid",
            **{"display-name": "TestChannel", "msg-param-displayName": "TestChannel", "msg-param-viewerCount": "15"},
        )
    )
    assert (raid.kind, raid.uname, raid.count, raid.price) == ("raid", "TestChannel", 15, 0.0)


def test_an_announcement_is_read_like_chat_and_other_notices_are_not() -> None:
    ann = event(usernotice("announcement", "Giveaway at 9!", badges="moderator/1", **{"msg-param-color": "PRIMARY"}))
    assert (ann.kind, ann.text, ann.role, ann.uname) == (EventKind.DANMAKU, "Giveaway at 9!", Role.MODERATOR, "Ronni")
    for other in ("bitsbadgetier", "giftpaidupgrade", "ritual", "primepaidupgrade", "viewermilestone", ""):
        assert to_event(parse_line(usernotice(other)), CH) is None, other


def test_clearmsg_recalls_that_message() -> None:
    ev = event(
        "@login=ronni;room-id=;target-msg-id=abc-123-def;tmi-sent-ts=1642720582342 "
        f":tmi.twitch.tv CLEARMSG #{CH} :HeyGuys"
    )
    assert (ev.kind, ev.msg_id, ev.uname) == (EventKind.RECALL, "abc-123-def", "ronni")


def test_other_lines_are_not_chat() -> None:
    for line in (
        ":tmi.twitch.tv 001 justinfan123 :Welcome, GLHF!",
        f":justinfan123!justinfan123@justinfan123.tmi.twitch.tv JOIN #{CH}",
        f"@emote-only=0;room-id=1337 :tmi.twitch.tv ROOMSTATE #{CH}",
        ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands",
        privmsg("another channel").replace(f"#{CH}", "#elsewhere"),
    ):
        assert to_event(parse_line(line), CH) is None, line


@pytest.mark.parametrize(
    "line",
    ["", "   ", "@only-tags", ":prefix-only", "@a=b :prefix", "12 not a numeric", "PRIV\0MSG #x :y", "x" * 9000],
)
def test_malformed_lines_raise_value_error(line: str) -> None:
    with pytest.raises(ValueError):
        parse_line(line)


def test_structure_of_a_line() -> None:
    msg = parse_line("@a=1;b;c=x\\sy :nick!u@h PRIVMSG #ch :hello :world")
    assert msg.tags == {"a": "1", "b": "", "c": "x y"}
    assert (msg.nick, msg.command, msg.params) == ("nick", "PRIVMSG", ["#ch", "hello :world"])
    assert parse_line("PING :tmi.twitch.tv").params == ["tmi.twitch.tv"]


@given(st.text(max_size=300))
def test_any_line_parses_or_raises_value_error(line: str) -> None:
    try:
        msg = parse_line(line)
    except ValueError:
        return
    out = to_event(msg, CH)
    assert out is None or isinstance(out, ChatEvent | Skipped)
