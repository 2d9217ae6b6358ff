"""The bot's configuration: a strict, typed model of `config.yaml`.

Why pydantic: unknown keys are rejected (a typo must not silently fall back to a default), every error
carries its key path, and the same model documents the schema. `load_config` turns any failure into a
`ConfigError` whose message is one line per problem, `config.yaml: voices[1].ref_audio: ...`: the location
is always the key as written in the file, also for a check across keys (`KeyProblem`, bot/config_fields.py).

Paths are resolved against the folder of the config file, so a config can be moved with its voices
(`hf://` and `f5-tts:` forms: bot/config_fields.py). `source:` and `output:` are not described here:
each source and output type owns its settings model in its own package, and bot/registry.py lists them.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import re2
import yaml
from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from bot.component import OutputSettings, SourceSettings
from bot.config_fields import ConfigPath, KeyProblem, Strict, check_template
from bot.errors import ConfigError
from bot.registry import OUTPUTS, SOURCES
from bot.speech.language import Language


class Architecture(Strict):
    """DiT dimensions. The named presets match f5-tts's `configs/*.yaml`."""

    dim: int = Field(gt=0)
    depth: int = Field(gt=0)
    heads: int = Field(gt=0)
    ff_mult: float = Field(gt=0)
    text_dim: int = Field(gt=0)
    conv_layers: int = Field(ge=0)
    text_mask_padding: bool = True
    pe_attn_head: int | None = Field(default=None, ge=0)
    qk_norm: Literal["rms_norm"] | None = None
    dim_head: int = Field(default=64, gt=0)


ARCHITECTURES: dict[str, Architecture] = {
    "F5TTS_v1_Base": Architecture(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, conv_layers=4),
    "F5TTS_Base": Architecture(
        dim=1024,
        depth=22,
        heads=16,
        ff_mult=2,
        text_dim=512,
        conv_layers=4,
        text_mask_padding=False,
        pe_attn_head=1,
    ),
    # The smoke-test model written by `ishowtts-bot tiny-model`: random weights, same classes, fast on a CPU.
    "tiny": Architecture(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, text_dim=32, conv_layers=1),
}


def _architecture(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ARCHITECTURES:
            raise KeyProblem("architecture", f"unknown architecture {value!r} (known: {', '.join(ARCHITECTURES)})")
        return ARCHITECTURES[value]
    return value


class ModelConfig(Strict):
    checkpoint: ConfigPath = "hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors"
    vocab: ConfigPath = "hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt"
    architecture: Annotated[Architecture, Field(validate_default=True)] = ARCHITECTURES["F5TTS_v1_Base"]
    vocoder: ConfigPath = "hf://charactr/vocos-mel-24khz"
    """A local folder with config.yaml + pytorch_model.bin, or hf://owner/repo for a hub repo."""
    device: Literal["auto", "cuda", "cpu"] = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    nfe_step: int = Field(default=16, ge=1, le=128)
    cfg_strength: float = Field(default=2.0, ge=0, le=10)
    sway_sampling_coef: float | None = Field(
        default=-1.0,
        ge=-1.0,
        le=1.75,
        description="as upstream; outside [-1, 2/(pi-2)] the sampling times stop rising and the speech is noise",
    )
    seed: int | None = Field(default=None, ge=0, le=2**64 - 1, description="torch.manual_seed's range")
    max_pass_s: float = Field(
        default=22.0,
        ge=8.0,
        le=30.0,
        description="reference + generated seconds in one pass; longer text is split at sentences "
        "(upstream's infer_process keeps 22; the model was trained on clips up to 30)",
    )
    cache_dir: ConfigPath | None = None

    @model_validator(mode="before")
    @classmethod
    def _named_architecture(cls, data: Any) -> Any:
        if isinstance(data, dict) and "architecture" in data:
            data = {**data, "architecture": _architecture(data["architecture"])}
        return data


class EngineConfig(Strict):
    """How the engine runs (not what it computes: every setting here keeps the output the same)."""

    fast: bool = Field(default=True, description="the static-shape loop (bot/engine/fast_dit.py); false = plain")
    cuda_graphs: bool = Field(default=True, description="capture each (batch, length bucket) loop on CUDA")
    bucket_frames: int = Field(default=64, ge=1, le=1024, description="lengths round up to this (masked)")
    max_graphs: int = Field(default=64, ge=1, le=512, description="captured graphs kept resident (LRU)")
    max_batch: int = Field(default=8, ge=1, le=64, description="waiting messages synthesised in one pass")
    vocoder_dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    warmup: bool = Field(default=True, description="prepare each bucket in the background when chat is idle")
    max_failures_in_a_row: int = Field(
        default=5, ge=0, le=1000, description="engine failures (e.g. out of memory) in a row: exit 2; 0 = never"
    )
    compile: bool | None = Field(default=None, description="torch.compile the blocks; null = on CUDA with Triton")
    compile_per_bucket: bool = Field(
        default=True,
        description="compile each (batch, length bucket) shape on its own: ~20% faster on an H100, each shape "
        "compiled once at warm-up (then cached on disk); false = one shape-generic compile",
    )
    cache_dir: ConfigPath | None = Field(default=None, description="compile caches; default: the user cache dir")

    def resolved_cache_dir(self) -> str:
        """systemd's CacheDirectory= (via $CACHE_DIRECTORY), else $XDG_CACHE_HOME or ~/.cache, /ishowtts-bot."""
        if self.cache_dir:
            return self.cache_dir
        if os.environ.get("CACHE_DIRECTORY"):
            return os.environ["CACHE_DIRECTORY"].split(":")[0]
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "ishowtts-bot")


MAX_REF_TEXT_CHARS = 500
"""12 s of the fastest speech is ~100 Chinese characters or ~250 Latin ones; 500 leaves room for notes in
brackets. A transcript past the clip fills the model's whole window, and every utterance then fails."""


class VoiceConfig(Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    ref_audio: ConfigPath
    ref_text: str = Field(
        max_length=MAX_REF_TEXT_CHARS,
        description="what the clip says; a clip is at most 12 s, so a longer transcript cannot match it",
    )
    speed: float = Field(default=1.0, gt=0.25, le=4.0)
    gain_db: float = Field(default=0.0, ge=-40, le=20)
    lang: Language | None = Field(
        default=None, description="zh, en, ja or ko: the language it speaks; null = from the transcript's script"
    )

    @model_validator(mode="after")
    def _transcript(self) -> VoiceConfig:
        if not self.ref_text.strip():
            raise KeyProblem("ref_text", "the transcript of the reference clip is empty")
        return self


def compile_linear(pattern: str, case_sensitive: bool = False) -> re2._Regexp[str]:
    """A streamer's regular expression, compiled by RE2: matching takes time linear in the text whatever
    the pattern (`(a+)+$` cannot backtrack for seconds), at the price of backreferences and lookarounds.
    Raises re2.error."""
    options = re2.Options()
    options.log_errors = False  # the one-line error below says it; RE2 would also print to stderr
    options.case_sensitive = case_sensitive
    return re2.compile(pattern, options)


def _check_regex(pattern: str) -> str:
    try:
        compiled = compile_linear(pattern)
    except re2.error as err:
        reason = err.args[0].decode(errors="replace") if err.args and isinstance(err.args[0], bytes) else str(err)
        raise ValueError(
            f"bad regular expression {pattern!r}: {reason} (matched in linear time: no backreferences or lookarounds)"
        ) from None
    if compiled.fullmatch("") is not None:
        raise ValueError(f"regular expression {pattern!r} matches an empty text: it would block every message")
    return pattern


Regex = Annotated[str, Field(min_length=1), AfterValidator(_check_regex)]


class BlocklistConfig(Strict):
    """Words (case-insensitive) and regular expressions matched on the normalised text."""

    words: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    regexes: list[Regex] = Field(default_factory=list)
    action: Literal["drop", "replace"] = Field(default="drop", description="drop the message, or bleep the match")
    replacement: str = Field(default="哔", description="said instead of a blocked word when action is replace")


class RateLimitConfig(Strict):
    """A token bucket per viewer: `burst` messages at once, refilled at `per_minute`."""

    burst: int = Field(default=3, ge=1, le=1000)
    per_minute: float = Field(default=6.0, gt=0, le=6000)


class TemplatesConfig(Strict):
    """What is said for each kind of event; `{uname}` and `{text}` are filled in. Gift and guard texts
    already come from the source's own templates."""

    danmaku: str = "{text}"
    super_chat: str = "{uname}的醒目留言：{text}"
    gift: str = "{text}"
    guard: str = "{text}"
    system: str = "{text}"

    @model_validator(mode="after")
    def _templates(self) -> TemplatesConfig:
        for key in ("danmaku", "super_chat", "gift", "guard", "system"):
            if "text" not in check_template(getattr(self, key), ("uname", "text"), key):
                raise KeyProblem(key, "must contain {text}")
        return self


MAX_AUDIO_S = 20.0
"""`text.max_audio_s`'s default: the longest a message may sound (the engine's warm-up plans for it)."""

DEFAULT_SYMBOLS = {"+": "加", "=": "等于", "&": "和", "@": " ", "#": " ", "_": " ", "~": " ", "|": " "}


class SpokenConfig(Strict):
    """How the text that passed the filters is said (bot/speech/): numbers and symbols written out,
    the voice for the message's language, a bound on how long one message may sound, emoji names."""

    normalize: bool = Field(default=True, description="numbers, money, dates, times as words (666 -> 六六六)")
    voice_by_language: bool = Field(
        default=True,
        description="a message in another language than its voice goes to the first voice of that language "
        "(not when a moderator gave the viewer a voice)",
    )
    max_audio_s: float = Field(
        default=MAX_AUDIO_S, ge=2.0, le=300.0, description="longest predicted audio of one message; longer text is cut"
    )
    emoji: dict[str, str] = Field(
        default_factory=dict, description="names for emoji, added to the built-in table; '' silences one"
    )


class TextConfig(SpokenConfig):
    """What is spoken of a message. Every rule that drops a message counts the drop under its reason."""

    max_chars: int = Field(
        default=60, ge=1, le=2000, description="longer is cut; a CJK character counts 1, any other 0.5"
    )
    min_chars: int = Field(default=1, ge=1, le=2000)
    truncation_cue: str = Field(default="等等", max_length=16, description="said after a message that was cut")
    templates: TemplatesConfig = TemplatesConfig()
    links: Literal["drop", "replace", "keep"] = "replace"
    link_word: str = Field(default="链接", max_length=16)
    blocked_name: str = Field(
        default="有人",
        max_length=16,
        description="said for a name with a link or a blocked word in it; '' = the message is read without a name",
    )
    blocklist: BlocklistConfig = BlocklistConfig()
    max_repeat: int = Field(default=3, ge=1, le=20, description="'哈哈哈哈哈哈' -> '哈哈哈'; punctuation runs -> one")
    emoticons: dict[str, str] = Field(default_factory=dict, description="'[doge]': '狗头' — said instead")
    unknown_emoticons: Literal["drop", "keep"] = "drop"
    symbols: dict[Annotated[str, Field(min_length=1)], str] = Field(default_factory=lambda: dict(DEFAULT_SYMBOLS))
    aliases: dict[Annotated[str, Field(min_length=1)], str] = Field(
        default_factory=dict, description="how to pronounce names: {'iShowSpeed': '艾修斯必得'}"
    )
    ignore_users: list[Annotated[int, Field(gt=0)] | str] = Field(
        default_factory=list, description="uids or names (other bots)"
    )
    ignore_prefixes: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["!", "/"], description="messages starting with these are other bots' commands"
    )
    duplicate_window_s: float = Field(default=30.0, ge=0, le=3600, description="same text, any viewer; 0 = off")
    rate_limit: RateLimitConfig | None = RateLimitConfig()

    @model_validator(mode="after")
    def _lengths(self) -> TextConfig:
        if self.min_chars > self.max_chars:
            raise KeyProblem("min_chars", "is more than max_chars")
        return self


class QueueConfig(Strict):
    """The bounded priority queue between chat and the GPU; see bot/speech_queue.py."""

    max_size: int = Field(default=32, ge=1, le=10_000)
    max_age_s: float = Field(default=60.0, gt=0, description="waited longer: not spoken")
    paid_max_age_s: float | None = Field(default=1800.0, gt=0, description="super chats; null = no limit")
    max_paid: int = Field(default=500, ge=1, le=100_000, description="super chats held past max_size")
    names_off_at: int | None = Field(default=10, ge=1, description="this many waiting: names are not read")
    paid_only_at: int | None = Field(default=24, ge=1, description="this many waiting: only paid messages")
    calm_s: float = Field(default=30.0, gt=0, le=3600, description="how long the flood must ebb to leave a mode")
    names_off_notice: str | None = None
    paid_only_notice: str | None = "弹幕太多啦，现在只读醒目留言和礼物"

    @model_validator(mode="after")
    def _thresholds(self) -> QueueConfig:
        for key in ("names_off_at", "paid_only_at"):
            value = getattr(self, key)
            if value is not None and value > self.max_size:
                raise KeyProblem(key, f"is more than max_size ({self.max_size})")
        if self.names_off_at and self.paid_only_at and self.names_off_at >= self.paid_only_at:
            raise KeyProblem("names_off_at", "must be below paid_only_at")
        return self


class ModerationConfig(Strict):
    """Chat commands (`#tts skip`). Allowed for the streamer, room admins and the uids listed here."""

    prefixes: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field(
        default_factory=lambda: ["#tts", "#语音"], min_length=1
    )
    moderators: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list, description="extra uids")
    max_mute_s: float = Field(
        default=30 * 86400, gt=0, le=366 * 86400, description="longest timed mute; none given = permanent"
    )


class HttpConfig(Strict):
    """The status page, /metrics and the control API. Every endpoint but /healthz needs the token:
    $ISHOWTTS_HTTP_TOKEN, else one generated on first start into `state_dir/http-token` (mode 0600)."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="127.0.0.1 = this machine only")
    port: int = Field(default=8765, ge=0, le=65535, description="0 = any free port (tests)")
    max_body_bytes: int = Field(default=16_384, ge=256, le=1_048_576)
    idle_timeout_s: float = Field(
        default=15.0, ge=1, le=3600, description="idle connections, and requests not fully sent by then, are closed"
    )
    max_connections: int = Field(
        default=128, ge=1, le=10_000, description="open at once; more get 503 (also held below the fd limit)"
    )
    allowed_hosts: list[str] = Field(
        default=[], description="names besides IP addresses and localhost that the page may be reached by"
    )


class Config(Strict):
    model: ModelConfig = ModelConfig()
    engine: EngineConfig = EngineConfig()
    voices: list[VoiceConfig] = Field(min_length=1)
    default_voice: str | None = None
    source: Annotated[SourceSettings, SOURCES]
    output: Annotated[OutputSettings, OUTPUTS]
    text: TextConfig = TextConfig()
    queue: QueueConfig = QueueConfig()
    moderation: ModerationConfig = ModerationConfig()
    http: HttpConfig = HttpConfig()
    state_dir: ConfigPath | None = Field(default=None, description="mutes, voices, audit log; default: see below")

    @model_validator(mode="after")
    def _voices(self) -> Config:
        seen: set[str] = set()
        for i, voice in enumerate(self.voices):
            if voice.id in seen:
                raise KeyProblem(("voices", i, "id"), f"another voice has the id {voice.id!r}")
            seen.add(voice.id)
        if self.default_voice is not None and self.default_voice not in seen:
            raise KeyProblem("default_voice", f"no voice with id {self.default_voice!r}")
        return self

    @property
    def default_voice_id(self) -> str:
        return self.default_voice or self.voices[0].id

    def resolved_state_dir(self) -> str:
        """systemd's StateDirectory= (via $STATE_DIRECTORY), else $XDG_STATE_HOME or ~/.local/state,
        /ishowtts-bot."""
        if self.state_dir:
            return self.state_dir
        if os.environ.get("STATE_DIRECTORY"):
            return os.environ["STATE_DIRECTORY"].split(":")[0]
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        return os.path.join(base, "ishowtts-bot")

    def voice(self, voice_id: str) -> VoiceConfig:
        for voice in self.voices:
            if voice.id == voice_id:
                return voice
        raise ConfigError(f"unknown voice {voice_id!r} (configured: {', '.join(v.id for v in self.voices)})")


_UNION_TAGS = {registry.slot: registry.names for registry in (SOURCES, OUTPUTS)}


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_UNION_MEMBER = re.compile(r"^(int|str|float|bool|constrained-(int|float|str)|[a-z-]+\[.*\])$")
"""How pydantic names a union's alternative in an error's location (`int`, `literal['low','high']`, and
`constrained-float` for a bounded one)."""


def _loc(loc: tuple[int | str, ...]) -> str:
    """('voices', 1, 'ref_audio') -> 'voices[1].ref_audio'; ('source', 'twitch', 'channel') ->
    'source.channel': the type tag pydantic puts after `source`/`output` is dropped, whatever the type. A
    key of the streamer's own (an emoji, a name, a typo) is quoted, escaped, so it stays on the line:
    `text.emoji["🐶"]`."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or (i == 1 and part in _UNION_TAGS.get(str(loc[0]), ())):
            continue
        elif not _PLAIN_KEY.match(part):
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
        else:
            out += f".{part}" if out else part
    return out


def _located(e: ErrorDetails) -> tuple[tuple[int | str, ...], str]:
    """Where one of pydantic's errors is in the file, as key path, and what is wrong there in a
    streamer's words."""
    loc, msg, ctx = tuple(e["loc"]), str(e["msg"]).removeprefix("Value error, "), e.get("ctx", {})
    if isinstance(problem := ctx.get("error"), KeyProblem):
        return (*loc, *problem.key), problem.problem
    if loc[-1:] == ("[key]",):  # a mapping's key itself is wrong: said at the mapping
        return loc[:-2], f"key {str(loc[-2])!r}: {msg}"
    if e["type"] == "extra_forbidden":
        return loc, "unknown key"
    if e["type"] == "missing":
        return loc, "required key is missing"
    if e["type"] == "union_tag_not_found":  # `source:`/`output:` without its `type:`
        return (*loc, "type"), "required key is missing"
    if e["type"] == "union_tag_invalid":
        known = ", ".join(_UNION_TAGS.get(str(loc[0]), ()))
        return (*loc, "type"), f"unknown type {str(ctx.get('tag'))!r} (known: {known})"
    return loc, msg


def format_validation_error(name: str, err: ValidationError) -> list[str]:
    """One line per problem: `NAME: LOCATION: PROBLEM`, the location dotted as the key is found in the
    file (`source.gift_template`, `voices[1].speed`) whether a field's own check or a whole-model check
    (`KeyProblem`) found it. A value that fits none of a union's types (`ignore_users: [1.5]`) is one
    line at the value, with why each type refused it: pydantic puts each under the type's name, a key
    the file does not have."""
    found = [_located(e) for e in err.errors()]
    branches = Counter(loc[:-1] for loc, _ in found if loc and _UNION_MEMBER.match(str(loc[-1])))
    problems: dict[tuple[str, bool], list[str]] = {}
    for loc, msg in found:
        union = bool(loc) and branches[loc[:-1]] > 1 and bool(_UNION_MEMBER.match(str(loc[-1])))
        problems.setdefault((_loc(loc[:-1] if union else loc), union), []).append(" ".join(msg.splitlines()))
    lines = []
    for (where, union), msgs in problems.items():
        for msg in ["; or ".join(msgs)] if union else msgs:
            lines.append(f"{name}: {where}: {msg}" if where else f"{name}: {msg}")
    return lines


def parse_config(data: Any, path: Path) -> Config:
    """Validate already-parsed YAML; relative paths resolve against `path`'s folder."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping of settings at the top level")
    try:
        return Config.model_validate(data, context={"base_dir": path.parent.resolve()})
    except ValidationError as err:
        raise ConfigError("\n".join(format_validation_error(path.name, err))) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error: PyYAML keeps the last one
    silently, so a setting written twice (one of them forgotten further down) would be half ignored."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {str(key)[:40]!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; every failure is a one-line-per-problem ConfigError."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read config file: {err}") from None
    try:
        data = yaml.load(raw, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "syntax error"
        raise ConfigError(f"{path.name}: invalid YAML{where}: {problem}") from None
    return parse_config(data, path)
