from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import ARCHITECTURES, load_config, parse_config
from bot.errors import ConfigError

GOOD = """\
model:
  checkpoint: weights/model.safetensors
  vocab: weights/vocab.txt
  vocoder: weights/vocos
  architecture: F5TTS_v1_Base
voices:
  - id: streamer
    ref_audio: voices/me.wav
    ref_text: 大家好
  - id: en
    ref_audio: /abs/en.wav
    ref_text: hello there
    speed: 1.1
    gain_db: -3
default_voice: en
source: {type: replay, path: chat.jsonl, speed: 2}
output: {type: wav, path: out}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    return str(err.value)


def test_good_config_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.model.checkpoint == str(tmp_path / "weights/model.safetensors")
    assert cfg.model.vocoder == str(tmp_path / "weights/vocos")
    assert cfg.model.architecture == ARCHITECTURES["F5TTS_v1_Base"]
    assert cfg.model.nfe_step == 16
    assert cfg.voices[0].ref_audio == str(tmp_path / "voices/me.wav")
    assert cfg.voices[1].ref_audio == "/abs/en.wav"
    assert cfg.default_voice_id == "en"
    assert cfg.source.type == "replay" and cfg.source.path == str(tmp_path / "chat.jsonl")


def test_defaults_point_at_the_hub_and_keep_hub_ids(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD.split("model:")[0] + GOOD.split("architecture: F5TTS_v1_Base\n")[1]))
    assert cfg.model.checkpoint.startswith("hf://SWivid/F5-TTS/")
    assert cfg.model.vocoder == "hf://charactr/vocos-mel-24khz"
    assert cfg.default_voice_id == "en"


def test_explicit_architecture_dims(tmp_path: Path) -> None:
    text = GOOD.replace(
        "architecture: F5TTS_v1_Base",
        "architecture: {dim: 512, depth: 18, heads: 8, ff_mult: 2, text_dim: 512, conv_layers: 4}",
    )
    assert load_config(write(tmp_path, text)).model.architecture.depth == 18


def test_yaml_null_output_type_means_null_sink(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD.replace("{type: wav, path: out}", "{type: null}"))).output.type == "null"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("  vocab: weights/vocab.txt\n", "  vocab: weights/vocab.txt\n  vocabb: x\n"),
            "config.yaml: model.vocabb: unknown key",
        ),
        (
            ("architecture: F5TTS_v1_Base", "architecture: F5TTS_Huge"),
            "config.yaml: model.architecture: unknown architecture 'F5TTS_Huge' "
            "(known: F5TTS_v1_Base, F5TTS_Base, tiny)",
        ),
        (
            ("    ref_text: 大家好", "    ref_text: '  '"),
            "config.yaml: voices[0].ref_text: the transcript of the reference clip is empty",
        ),
        (
            ("    speed: 1.1", "    speed: fast"),
            "config.yaml: voices[1].speed: Input should be a valid number, unable to parse string as a number",
        ),
        (("default_voice: en", "default_voice: nobody"), "config.yaml: default_voice: no voice with id 'nobody'"),
        (("  - id: en", "  - id: streamer"), "config.yaml: voices[1].id: another voice has the id 'streamer'"),
        (
            ("{type: replay, path: chat.jsonl, speed: 2}", "{type: bilibli}"),
            "config.yaml: source.type: unknown type 'bilibli' (known: replay, console, bilibili, twitch)",
        ),
        (
            ("{type: replay, path: chat.jsonl, speed: 2}", "{type: replay}"),
            "config.yaml: source.path: required key is missing",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in GOOD
    assert error_of(tmp_path, GOOD.replace(*change)) == message


VOICE = {"id": "zh", "ref_audio": "a.wav", "ref_text": "你好"}


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ({"model": {"architecture": "F5TTS_Huge"}}, "model.architecture: unknown architecture 'F5TTS_Huge'"),
        ({"voices": [{**VOICE, "ref_text": " "}]}, "voices[0].ref_text: the transcript of the reference clip is"),
        ({"voices": [VOICE, VOICE]}, "voices[1].id: another voice has the id 'zh'"),
        ({"default_voice": "en"}, "default_voice: no voice with id 'en'"),
        (
            {"text": {"templates": {"gift": "{who}"}}},
            "text.templates.gift: unknown placeholder {who} (known: {uname}, {text})",
        ),
        ({"text": {"templates": {"guard": "hi"}}}, "text.templates.guard: must contain {text}"),
        ({"text": {"min_chars": 9, "max_chars": 8}}, "text.min_chars: is more than max_chars"),
        ({"queue": {"max_size": 9}}, "queue.names_off_at: is more than max_size (9)"),
        ({"queue": {"names_off_at": 12, "paid_only_at": 11}}, "queue.names_off_at: must be below paid_only_at"),
        (
            {"source": {"type": "twitch", "channel": "dallas", "ping_every_s": 60, "silent_after_s": 60}},
            "source.silent_after_s: must be longer than ping_every_s",
        ),
        (
            {"source": {"type": "twitch", "channel": "dallas", "raid_template": "{count}"}},
            "source.raid_template: unknown placeholder {count} (known: {uname}, {viewers})",
        ),
        (
            {"source": {"type": "bilibili", "room_id": 1, "entry_template": "{gift}"}},
            "source.entry_template: unknown placeholder {gift} (known: {uname})",
        ),
    ],
)
def test_a_whole_model_check_names_its_key_as_a_field_error_does(
    tmp_path: Path, settings: dict[str, object], line: str
) -> None:
    """A check across several keys (pydantic places it at the model) reads `text.min_chars: ...`, never
    `text: min_chars: ...`: the location is the key a streamer looks for in config.yaml."""
    data = {"voices": [VOICE], "source": {"type": "console"}, "output": {"type": "null"}, **settings}
    with pytest.raises(ConfigError) as err:
        parse_config(data, tmp_path / "config.yaml")
    (error,) = str(err.value).splitlines()
    assert error.startswith(f"config.yaml: {line}"), error


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"text": {"ignore_users": [1.5]}},
            "text.ignore_users[0]: Input should be a valid integer, got a number with a fractional part; "
            "or Input should be a valid string",
        ),
        (
            {"output": {"type": "sounddevice", "latency": "now"}},
            "output.latency: Input should be 'low' or 'high'; "
            "or Input should be a valid number, unable to parse string as a number",
        ),
        ({"text": {"aliases": {"": "x"}}}, "text.aliases: key '': String should have at least 1 character"),
        ({"text": {"emoticons": {"[doge]": 1}}}, 'text.emoticons["[doge]"]: Input should be a valid string'),
        ({"text": {"emoji": {"a\nb": 1}}}, 'text.emoji["a\\nb"]: Input should be a valid string'),
        ({"text": {"no\nsuch": 1}}, 'text["no\\nsuch"]: unknown key'),
        ({"source": {"path": "chat.jsonl"}}, "source.type: required key is missing"),
    ],
)
def test_every_error_is_one_line_at_a_key_of_the_file(tmp_path: Path, settings: dict[str, object], line: str) -> None:
    """Not under the name pydantic gives a union's alternative (`ignore_users[0].int`), and not broken
    over lines by a key the streamer wrote (a newline in it)."""
    data = {"voices": [VOICE], "source": {"type": "console"}, "output": {"type": "null"}, **settings}
    with pytest.raises(ConfigError) as err:
        parse_config(data, tmp_path / "config.yaml")
    assert str(err.value).splitlines() == [f"config.yaml: {line}"]


def test_every_problem_is_one_line(tmp_path: Path) -> None:
    text = GOOD.replace("    speed: 1.1", "    speed: -1").replace("{type: wav, path: out}", "{type: wav}")
    assert error_of(tmp_path, text).splitlines() == [
        "config.yaml: voices[1].speed: Input should be greater than 0.25",
        "config.yaml: output.path: required key is missing",
    ]


def test_missing_voices(tmp_path: Path) -> None:
    text = GOOD.split("voices:")[0] + "source: {type: console}\noutput: {type: null}\n"
    assert error_of(tmp_path, text) == "config.yaml: voices: required key is missing"


def test_bad_template(tmp_path: Path) -> None:
    assert error_of(tmp_path, GOOD + "text: {templates: {danmaku: '{user} says {text}'}}\n") == (
        "config.yaml: text.templates.danmaku: unknown placeholder {user} (known: {uname}, {text})"
    )
    assert error_of(tmp_path, GOOD + "text: {templates: {super_chat: '{uname}'}}\n") == (
        "config.yaml: text.templates.super_chat: must contain {text}"
    )
    assert error_of(tmp_path, GOOD + "text: {templates: {danmaku: '{{text}}'}}\n") == (
        "config.yaml: text.templates.danmaku: must contain {text}"  # `{{text}}` says "{text}" aloud
    )


GIFT_FIELDS = "(known: {uname}, {gift}, {count}, {yuan})"
BRACE = "a { or } without its pair: a placeholder is written {name}, a brace itself {{ or }}"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("谢谢{x}", f"unknown placeholder {{x}} {GIFT_FIELDS}"),
        ("谢谢{}", f"unknown placeholder {{}} {GIFT_FIELDS}"),
        ("谢谢{0}", f"unknown placeholder {{0}} {GIFT_FIELDS}"),
        ("谢谢{uname", f"{BRACE} {GIFT_FIELDS}"),
        ("谢谢{uname}}", f"{BRACE} {GIFT_FIELDS}"),
        ("{ 谢谢", f"{BRACE} {GIFT_FIELDS}"),
        ("谢谢{uname.x}", "placeholder {uname.x}: write it as {uname}, nothing else inside the braces"),
        ("{count.real}个", "placeholder {count.real}: write it as {count}, nothing else inside the braces"),
        ("{uname[9]}", "placeholder {uname[9]}: write it as {uname}, nothing else inside the braces"),
        ("{uname!r}", "placeholder {uname!r}: write it as {uname}, nothing else inside the braces"),
        ("{yuan:.0f}元", "placeholder {yuan:.0f}: write it as {yuan}, nothing else inside the braces"),
        ("{uname:{x}}", "placeholder {uname:{x}}: write it as {uname}, nothing else inside the braces"),
    ],
)
def test_a_bad_template_is_one_plain_line_naming_the_placeholder(tmp_path: Path, template: str, problem: str) -> None:
    """Not `(KeyError('x'))` nor a traceback (`{uname.x}` raised AttributeError out of the check): what is
    wrong, in the streamer's words, with the placeholders that template can use."""
    source = json.dumps({"type": "bilibili", "room_id": 1, "gift_template": template}, ensure_ascii=False)
    text = GOOD.split("source:")[0] + f"source: {source}\noutput: {{type: null}}\n"
    assert error_of(tmp_path, text) == f"config.yaml: source.gift_template: {problem}"


def test_a_template_without_placeholders_says_so(tmp_path: Path) -> None:
    source = "source: {type: bilibili, room_id: 1, live_template: '开播了{uname}'}\n"
    assert error_of(tmp_path, GOOD.split("source:")[0] + source + "output: {type: null}\n") == (
        "config.yaml: source.live_template: unknown placeholder {uname} (this template has none)"
    )


def test_doubled_braces_are_a_brace_said_aloud(tmp_path: Path) -> None:
    source = "source: {type: bilibili, room_id: 1, gift_template: '{{谢谢}}{uname}'}\n"
    load_config(write(tmp_path, GOOD.split("source:")[0] + source + "output: {type: null}\n"))


def test_bad_blocklist_regex_is_one_clear_line(tmp_path: Path) -> None:
    text = GOOD + "text:\n  blocklist:\n    regexes: ['ok+', '(unclosed', '[z-a]', '(a)\\1', 'x*', '(a+)+$']\n"
    linear = " (matched in linear time: no backreferences or lookarounds)"
    assert error_of(tmp_path, text).splitlines() == [
        f"config.yaml: text.blocklist.regexes[1]: bad regular expression '(unclosed': missing ): (unclosed{linear}",
        f"config.yaml: text.blocklist.regexes[2]: bad regular expression '[z-a]': invalid character class range: "
        f"z-a{linear}",
        f"config.yaml: text.blocklist.regexes[3]: bad regular expression '(a)\\\\1': "
        f"invalid escape sequence: \\1{linear}",
        "config.yaml: text.blocklist.regexes[4]: regular expression 'x*' matches an empty text: it would block every "
        "message",
    ]


def test_queue_thresholds_must_be_ordered(tmp_path: Path) -> None:
    assert error_of(tmp_path, GOOD + "queue: {max_size: 20, names_off_at: 10, paid_only_at: 30}\n") == (
        "config.yaml: queue.paid_only_at: is more than max_size (20)"
    )
    assert error_of(tmp_path, GOOD + "queue: {names_off_at: 20, paid_only_at: 10}\n") == (
        "config.yaml: queue.names_off_at: must be below paid_only_at"
    )
    assert error_of(tmp_path, GOOD + "moderation: {moderators: [0]}\n") == (
        "config.yaml: moderation.moderators[0]: Input should be greater than 0"
    )


def test_invalid_yaml_gives_line_and_column(tmp_path: Path) -> None:
    assert error_of(tmp_path, "voices: [\n  - id: a\n") == (
        "config.yaml: invalid YAML at line 2, column 3: expected the node content, but found '-'"
    )


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert error_of(tmp_path, "- just\n- a list\n") == "config.yaml: expected a mapping of settings at the top level"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^.*nope\.yaml: config file not found$"):
        load_config(tmp_path / "nope.yaml")


def test_f5_tts_bundled_paths_resolve(tmp_path: Path) -> None:
    text = GOOD.replace("voices/me.wav", "f5-tts:infer/examples/basic/basic_ref_zh.wav")
    assert Path(load_config(write(tmp_path, text)).voices[0].ref_audio).is_file()


def test_repo_config_yaml_is_valid() -> None:
    cfg = load_config(Path(__file__).parent.parent / "config.yaml")
    assert cfg.model.checkpoint.startswith("hf://")


def test_bilibili_source_and_sound_card_output_parse(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "voices": [{"id": "zh", "ref_audio": "a.wav", "ref_text": "你好"}],
            "source": {
                "type": "bilibili",
                "room_id": 123,
                "gift_template": "谢谢{uname}送的{count}个{gift}",
                "guard_template": "感谢{uname}{action}{role}",
            },
            "output": {"type": "sounddevice", "device": 3, "volume": 0.8},
        },
        tmp_path / "config.yaml",
    )
    assert cfg.source.type == "bilibili" and cfg.source.room_id == 123
    assert cfg.output.type == "sounddevice" and cfg.output.device == 3


def test_speech_settings_and_voice_languages(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD.replace("    gain_db: -3\n", "    gain_db: -3\n    lang: en\n")))
    assert [v.lang for v in cfg.voices] == [None, "en"]
    assert (cfg.text.normalize, cfg.text.voice_by_language, cfg.text.max_audio_s, cfg.text.emoji) == (
        True,
        True,
        20.0,
        {},
    )
    assert error_of(tmp_path, GOOD.replace("    gain_db: -3\n", "    gain_db: -3\n    lang: de\n")) == (
        "config.yaml: voices[1].lang: Input should be 'zh', 'en', 'ja' or 'ko'"
    )
    assert error_of(tmp_path, GOOD + "text: {max_audio_s: 1}\n") == (
        "config.yaml: text.max_audio_s: Input should be greater than or equal to 2"
    )
    spoken = load_config(write(tmp_path, GOOD + "text: {voice_by_language: false, emoji: {'🐶': 狗子}}\n")).text
    assert not spoken.voice_by_language and spoken.emoji == {"🐶": "狗子"}
