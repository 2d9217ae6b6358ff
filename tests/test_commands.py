from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import BadCommand, Command, Verb, parse_command, parse_duration

PREFIXES = ["#tts", "#语音"]


@pytest.mark.parametrize(
    ("text", "verb", "args"),
    [
        ("#tts skip", Verb.SKIP, ()),
        ("#TTS Skip", Verb.SKIP, ()),
        ("＃ｔｔｓ　ｓｋｉｐ", Verb.SKIP, ()),  # full width from a Chinese input method
        ("#tts跳过", Verb.SKIP, ()),
        ("#语音 跳过", Verb.SKIP, ()),
        ("#语音切", Verb.SKIP, ()),
        ("  #tts   mute  12345   10m ", Verb.MUTE, ("12345", "10m")),
        ("#tts 禁言 @小明 1小时", Verb.MUTE, ("@小明", "1小时")),
        ("#tts 静音 last", Verb.MUTE, ("last",)),
        ("#tts unmute @小明", Verb.UNMUTE, ("@小明",)),
        ("#tts 解除静音 42", Verb.UNMUTE, ("42",)),
        ("#tts clear", Verb.CLEAR, ()),
        ("#tts 清空", Verb.CLEAR, ()),
        ("#tts pause", Verb.PAUSE, ()),
        ("#tts 暂停", Verb.PAUSE, ()),
        ("#tts resume", Verb.RESUME, ()),
        ("#tts 继续", Verb.RESUME, ()),
        ("#tts voice en", Verb.VOICE, ("en",)),
        ("#tts 音色 en @小明", Verb.VOICE, ("en", "@小明")),
        ("#tts status", Verb.STATUS, ()),
        ("#tts 状态", Verb.STATUS, ()),
        ("#tts mute 1 2 3 4 5 6 7", Verb.MUTE, ("1", "2", "3", "4")),  # bounded
    ],
)
def test_commands_and_aliases(text: str, verb: Verb, args: tuple[str, ...]) -> None:
    cmd = parse_command(text, PREFIXES)
    assert isinstance(cmd, Command) and cmd.verb == verb and cmd.args == args


@pytest.mark.parametrize("text", ["hello", "tts skip", "#ttsfan 加油", "我 #tts skip", "#tt", ""])
def test_not_addressed_to_us(text: str) -> None:
    assert parse_command(text, PREFIXES) is None


@pytest.mark.parametrize(
    "text",
    [
        "# tts mute 100",
        "#\u200btts mute 100",
        "#\u3164tts mute 100",
        "＃ｔｔｓ　ｍｕｔｅ　１００",
        " #TTS mute ١٠٠",
        "# T T S mute 100",
    ],
)
def test_every_form_that_reads_as_a_command_is_one(text: str) -> None:
    cmd = parse_command(text, PREFIXES)
    assert isinstance(cmd, Command) and cmd.verb == Verb.MUTE and cmd.args == ("100",), text


def test_digits_and_durations_fold_the_same_way() -> None:
    cmd = parse_command("#tts mute ١٢٣ ١٠m", PREFIXES)
    assert isinstance(cmd, Command) and cmd.args == ("123", "10m")
    assert parse_duration(cmd.args[1]) == 600


@pytest.mark.parametrize("text", ["0.001s", "9s", "0.1m"])
def test_durations_have_a_minimum(text: str) -> None:
    with pytest.raises(ValueError, match="shortest mute is 10s"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("#tts", "no command given"),
        ("#tts   ", "no command given"),
        ("#tts dance", "unknown command 'dance'"),
        ("#tts skipper", "unknown command 'skipper'"),
    ],
)
def test_bad_commands_are_still_ours(text: str, reason: str) -> None:
    cmd = parse_command(text, PREFIXES)
    assert isinstance(cmd, BadCommand) and cmd.reason.startswith(reason)


@given(st.text(max_size=500))
def test_parsing_never_raises(text: str) -> None:
    parse_command(text, PREFIXES)
    parse_command("#tts " + text, PREFIXES)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("10", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1.5h", 5400),
        ("10分钟", 600),
        ("30秒", 30),
        ("2小时", 7200),
        ("3天", 3 * 86400),
        ("forever", None),
        ("永久", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "0m", "-5m", "10y", "abc", "1e9", "nan", "inf"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
