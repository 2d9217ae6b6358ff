"""The bot's configuration: a strict, typed model of `config.yaml`.

Why pydantic: unknown keys are rejected (a typo must not silently fall back to a default), every error
carries its key path, and the same model documents the schema. `load_config` turns any failure into a
`ConfigError` whose message is one line per problem, `config.yaml: voices[1].ref_audio: ...`.

Paths are resolved against the folder of the config file, so a config can be moved with its voices.
Two non-filesystem forms are understood:
- `hf://owner/repo/path/in/repo` for files on the Hugging Face hub (downloaded on first use), and
  `hf://owner/repo` for the vocoder's hub repo;
- `f5-tts:relative/path` for files bundled inside the installed f5-tts package (its example voices).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import re2
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError
from bot.speech.language import Language

HF_PREFIX = "hf://"
F5_PREFIX = "f5-tts:"


def resolve_path(value: str, base_dir: Path) -> str:
    """Resolve a config path: hub and package references are kept or expanded, the rest made absolute."""
    if value.startswith(HF_PREFIX):
        return value
    if value.startswith(F5_PREFIX):
        return str(files("f5_tts").joinpath(value[len(F5_PREFIX) :]))
    path = Path(os.path.expandvars(value)).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def _resolve(value: str, info: ValidationInfo) -> str:
    base = (info.context or {}).get("base_dir", Path.cwd())
    return resolve_path(value, Path(base))


ConfigPath = Annotated[str, Field(min_length=1), AfterValidator(_resolve)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Architecture(Strict):
    """DiT dimensions. The named presets match f5-tts's `configs/*.yaml`."""

    dim: int = Field(gt=0)
    depth: int = Field(gt=0)
    heads: int = Field(gt=0)
    ff_mult: float = Field(gt=0)
    text_dim: int = Field(gt=0)
    conv_layers: int = Field(ge=0)
    text_mask_padding: bool = True
    pe_attn_head: int | None = None
    qk_norm: Literal["rms_norm"] | None = None
    dim_head: int = 64


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
            raise ValueError(f"unknown architecture {value!r} (known: {', '.join(ARCHITECTURES)})")
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
    sway_sampling_coef: float | None = -1.0
    seed: int | None = Field(default=None, ge=0)
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
            raise ValueError("ref_text: the transcript of the reference clip is empty")
        return self


class ReplaySource(Strict):
    """Chat lines from a JSONL file (one ChatEvent-shaped object, or a plain string, per line)."""

    type: Literal["replay"]
    path: ConfigPath
    speed: float = Field(default=1.0, ge=0, description="time factor; 0 replays as fast as possible")


class ConsoleSource(Strict):
    """Chat lines typed on stdin, one message per line."""

    type: Literal["console"]
    uname: str = "console"


def _check_template(template: str | None, fields: tuple[str, ...], key: str) -> None:
    if template is None:
        return
    try:
        template.format(**dict.fromkeys(fields, ""))
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"{key}: only {', '.join('{' + f + '}' for f in fields)} can be filled in ({err!r})") from None


class BilibiliSource(Strict):
    """A Bilibili live room's chat. Login cookies come from BILIBILI_* environment variables or
    `credentials_file` (mode 0600), never from this file."""

    type: Literal["bilibili"]
    room_id: int = Field(gt=0, description="the number in the room's URL, live.bilibili.com/<room_id>")
    credentials_file: ConfigPath | None = None
    super_chats: bool = Field(default=True, description="read Super Chat messages")
    gift_template: str | None = Field(default=None, description="e.g. '谢谢{uname}送的{count}个{gift}'; null = silent")
    gift_min_yuan: float = Field(default=0.0, ge=0, description="thank only for gifts worth this much (free = 0)")
    gift_merge_s: float = Field(default=3.0, gt=0, le=60, description="a combo within this window is one thank-you")
    guard_template: str | None = Field(
        default=None, description="e.g. '感谢{uname}{action}{role}' ({action}: 开通 or 续费); null = silent"
    )
    guard_renew_template: str | None = Field(
        default=None, description="a renewal's own wording, e.g. '感谢{uname}续费{role}'; null = guard_template"
    )
    entry_template: str | None = Field(default=None, description="a viewer entered, e.g. '欢迎{uname}'; null = silent")
    follow_template: str | None = Field(default=None, description="e.g. '感谢{uname}的关注'; null = silent")
    share_template: str | None = Field(default=None, description="e.g. '感谢{uname}分享直播间'; null = silent")
    live_template: str | None = Field(default=None, description="said when the room goes live; null = silent")
    offline_template: str | None = Field(default=None, description="said when the room goes off air; null = silent")
    silent_after_s: float = Field(default=70.0, ge=1, description="no data (not even a heartbeat reply): reconnect")
    backoff_cap_s: float = Field(default=60.0, ge=1, le=600)
    handoff_size: int = Field(default=1000, ge=1, le=100_000, description="events buffered for the filter")

    @model_validator(mode="after")
    def _templates(self) -> BilibiliSource:
        _check_template(self.gift_template, ("uname", "gift", "count", "yuan"), "gift_template")
        _check_template(self.guard_template, ("uname", "role", "action"), "guard_template")
        _check_template(self.guard_renew_template, ("uname", "role", "action"), "guard_renew_template")
        for key in ("entry_template", "follow_template", "share_template"):
            _check_template(getattr(self, key), ("uname",), key)
        for key in ("live_template", "offline_template"):
            _check_template(getattr(self, key), (), key)
        return self


class TwitchSource(Strict):
    """A Twitch channel's chat over IRC with TLS. With no token it reads anonymously (as `justinfan<n>`);
    TWITCH_OAUTH_TOKEN and TWITCH_LOGIN, from the environment or `credentials_file` (mode 0600), never
    from this file, let it answer moderator commands in the chat."""

    type: Literal["twitch"]
    channel: str = Field(pattern=r"^#?[A-Za-z0-9_]{2,25}$", description="the name in twitch.tv/<channel>")
    host: str = "irc.chat.twitch.tv"
    port: int = Field(default=6697, ge=1, le=65535, description="TLS")
    credentials_file: ConfigPath | None = None
    replies: bool = Field(default=True, description="answer moderator commands in the chat (needs a token)")
    ping_every_s: float = Field(default=60.0, ge=1, le=600, description="quiet this long: send a PING")
    silent_after_s: float = Field(default=150.0, ge=2, le=3600, description="no data at all: reconnect")
    backoff_cap_s: float = Field(default=60.0, ge=1, le=600)
    handoff_size: int = Field(default=1000, ge=1, le=100_000, description="events buffered for the filter")
    sub_template: str | None = Field(
        default=None, description="e.g. 'Thanks {uname} for the {plan} sub, {months} months!'; null = silent"
    )
    sub_messages: bool = Field(default=True, description="read what a viewer writes with their (re)sub")
    gift_template: str | None = Field(
        default=None, description="gifted subs, e.g. 'Thanks {uname} for {count} gifted subs!'; null = silent"
    )
    raid_template: str | None = Field(
        default=None, description="e.g. 'Welcome, {uname} is raiding with {viewers} viewers!'; null = silent"
    )
    bits_template: str | None = Field(
        default=None, description="a cheer with no words, e.g. 'Thanks {uname} for {bits} bits!'; null = silent"
    )

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        return value.removeprefix("#").lower()

    @model_validator(mode="after")
    def _checks(self) -> TwitchSource:
        if self.silent_after_s <= self.ping_every_s:
            raise ValueError("silent_after_s: must be longer than ping_every_s (a PING must get its chance)")
        _check_template(self.sub_template, ("uname", "plan", "months"), "sub_template")
        _check_template(self.gift_template, ("uname", "count", "plan"), "gift_template")
        _check_template(self.raid_template, ("uname", "viewers"), "raid_template")
        _check_template(self.bits_template, ("uname", "bits"), "bits_template")
        return self


class WavOutput(Strict):
    """Record utterances: into one WAV file (`path` ends in .wav) or one file per utterance (a folder)."""

    type: Literal["wav"]
    path: ConfigPath
    gap_ms: int = Field(default=300, ge=0, le=10_000)


class NullOutput(Strict):
    """Discards speech. `realtime: true` makes it a sound card nobody hears: each message takes its own
    length to "play", so pause, skip, "now speaking" and the captions overlay behave as on a real card."""

    type: Literal["null"]
    realtime: bool = Field(default=False, description="play at the speed of sound instead of at once")
    gap_ms: int = Field(default=250, ge=0, le=10_000, description="silence between utterances (realtime only)")


class SoundDeviceOutput(Strict):
    """The sound card, through PortAudio (sounddevice). `ishowtts-bot devices` lists what can be named."""

    type: Literal["sounddevice"]
    device: str | int | None = Field(
        default=None, description="an output's index, or a case-insensitive part of its name; null = the default"
    )
    rate: int | None = Field(default=None, ge=8000, le=384_000, description="null = the device's native rate")
    volume: float = Field(default=1.0, ge=0.0, le=4.0, description="linear gain on every voice; a limiter stops clips")
    gap_ms: int = Field(default=250, ge=0, le=10_000, description="silence between utterances")
    buffer_s: float = Field(default=10.0, ge=1.0, le=120.0, description="audio held ahead of the card")
    latency: Literal["low", "high"] | float = Field(
        default=0.1,
        description="PortAudio's suggested latency, seconds or low | high. 0.1 plays without audio-server "
        "underruns on a loaded 2-core machine (bench/audio_latency.py: `low` gave hundreds a minute); a skip "
        "is heard this much later",
    )


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

    words: list[Annotated[str, Field(min_length=1)]] = []
    regexes: list[Regex] = []
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
            template = getattr(self, key)
            _check_template(template, ("uname", "text"), key)
            if "{text}" not in template:
                raise ValueError(f"{key}: must contain {{text}}")
        return self


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
        default=20.0, ge=2.0, le=300.0, description="longest predicted audio of one message; longer text is cut"
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
    ignore_users: list[int | str] = Field(default_factory=list, description="uids or names (other bots)")
    ignore_prefixes: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["!", "/"], description="messages starting with these are other bots' commands"
    )
    duplicate_window_s: float = Field(default=30.0, ge=0, le=3600, description="same text, any viewer; 0 = off")
    rate_limit: RateLimitConfig | None = RateLimitConfig()

    @model_validator(mode="after")
    def _lengths(self) -> TextConfig:
        if self.min_chars > self.max_chars:
            raise ValueError("min_chars: is more than max_chars")
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
                raise ValueError(f"{key}: is more than max_size ({self.max_size})")
        if self.names_off_at and self.paid_only_at and self.names_off_at >= self.paid_only_at:
            raise ValueError("names_off_at: must be below paid_only_at")
        return self


class ModerationConfig(Strict):
    """Chat commands (`#tts skip`). Allowed for the streamer, room admins and the uids listed here."""

    prefixes: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field(
        default_factory=lambda: ["#tts", "#语音"], min_length=1
    )
    moderators: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list, description="extra uids")
    max_mute_s: float = Field(default=30 * 86400, gt=0, description="longest timed mute; none given = permanent")


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
    source: Annotated[ReplaySource | ConsoleSource | BilibiliSource | TwitchSource, Field(discriminator="type")]
    output: Annotated[WavOutput | NullOutput | SoundDeviceOutput, Field(discriminator="type")]
    text: TextConfig = TextConfig()
    queue: QueueConfig = QueueConfig()
    moderation: ModerationConfig = ModerationConfig()
    http: HttpConfig = HttpConfig()
    state_dir: ConfigPath | None = Field(default=None, description="mutes, voices, audit log; default: see below")

    @model_validator(mode="before")
    @classmethod
    def _yaml_null_output(cls, data: Any) -> Any:
        """`output: {type: null}` parses as YAML's null; it means the null sink."""
        out = data.get("output") if isinstance(data, dict) else None
        if isinstance(out, dict) and "type" in out and out["type"] is None:
            data = {**data, "output": {**out, "type": "null"}}
        return data

    @model_validator(mode="after")
    def _voices(self) -> Config:
        seen: set[str] = set()
        for voice in self.voices:
            if voice.id in seen:
                raise ValueError(f"voices: duplicate voice id {voice.id!r}")
            seen.add(voice.id)
        if self.default_voice is not None and self.default_voice not in seen:
            raise ValueError(f"default_voice: no voice with id {self.default_voice!r}")
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


def _loc(loc: tuple[int | str, ...]) -> str:
    """('voices', 1, 'ref_audio') -> 'voices[1].ref_audio'; pydantic's union tags are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("replay", "console", "bilibili", "wav", "null", "sounddevice") or part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else part
    return out


def format_validation_error(name: str, err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        msg = str(e["msg"]).removeprefix("Value error, ")
        where = _loc(tuple(e["loc"]))
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key is missing"
        if ": " in msg and not where:
            lines.append(f"{name}: {msg}")
        else:
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
