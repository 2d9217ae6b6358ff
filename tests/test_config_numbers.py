"""Every number a streamer sets in config.yaml is bounded: each numeric field of every settings model (found
by walking the models, so a new field cannot be left out) refuses -1, NaN and infinity, and 0 where 0 means
nothing, with one line at its key; where the value means something (`gap_ms: 0`, `gain_db: -1`) it loads."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from bot.config import ARCHITECTURES, Config, load_config
from bot.config_fields import Strict
from bot.registry import OUTPUTS, SOURCES
from tests.test_config import error_of, write

BASE: dict[str, Any] = {
    "model": {"architecture": ARCHITECTURES["tiny"].model_dump()},
    "voices": [{"id": "zh", "ref_audio": "a.wav", "ref_text": "你好"}],
    "source": {"type": "console"},
    "output": {"type": "null"},
}
NEEDS = {
    "replay": {"path": "chat.jsonl"},
    "bilibili": {"room_id": 1},
    "twitch": {"channel": "dallas"},
    "wav": {"path": "out"},
}
"""What a source or output type requires besides the number under test."""

MEANS_SOMETHING = {
    "0": {
        "model.architecture.conv_layers",
        "model.architecture.pe_attn_head",
        "model.cfg_strength",  # no guidance
        "model.sway_sampling_coef",  # evenly spaced steps
        "model.seed",
        "engine.max_failures_in_a_row",  # never give up
        "voices[0].gain_db",
        "source(replay).speed",  # as fast as possible
        "source(bilibili).gift_min_yuan",  # free gifts too
        "output(sounddevice).device",  # the first output
        "output(sounddevice).volume",  # silent
        "output(sounddevice).gap_ms",
        "output(wav).gap_ms",
        "output(null).gap_ms",
        "text.duplicate_window_s",  # off
        "http.port",  # any free port
    },
    "-1": {"model.sway_sampling_coef", "voices[0].gain_db"},
}
"""Where -1 or 0 is a value a streamer may mean; everywhere else it is a mistake."""

VALUES = ("-1", "0", ".nan", "1e400", "1.0e+400")
"""As written in the file: `1e400` is text to YAML (a number to the fields that parse text as one),
`1.0e+400` YAML's own infinity."""

KeyPath = tuple[str | int, ...]


class NumericField(NamedTuple):
    label: str
    """Its dotted key, with the source or output type it belongs to: `output(sounddevice).latency`."""
    type_name: str
    path: KeyPath
    takes_text: bool
    """`str | int` (a device's name or index): `1e400` is then a name, not a number."""


def _leaf_types(annotation: Any) -> Iterator[Any]:
    """The plain types a field's annotation allows (through Optional, unions, Annotated and lists)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, list):
        for arg in get_args(annotation):
            yield from _leaf_types(arg)
    elif origin is Annotated:
        yield from _leaf_types(get_args(annotation)[0])
    else:
        yield annotation


def _numeric_paths(model: type[BaseModel], at: KeyPath) -> Iterator[tuple[KeyPath, bool]]:
    """(key path, takes text) of each int or float field under `model`; a list's item is at index 0."""
    for name, info in model.model_fields.items():
        leaves = list(_leaf_types(info.annotation))
        path = (*at, name, 0) if get_origin(info.annotation) is list else (*at, name)
        for leaf in leaves:
            if isinstance(leaf, type) and issubclass(leaf, Strict):
                yield from _numeric_paths(leaf, path)
        if int in leaves or float in leaves:
            yield path, str in leaves


def _dotted(path: KeyPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def numeric_fields() -> list[NumericField]:
    found = [NumericField(_dotted(p), "", p, text) for p, text in _numeric_paths(Config, ()) if p[0] not in NEEDS]
    for slot, registry in (("source", SOURCES), ("output", OUTPUTS)):
        for component in registry:  # `source:` and `output:` are each the registered types' settings
            for path, text in _numeric_paths(component.settings, (slot,)):
                label = _dotted(path).replace(slot, f"{slot}({component.name})", 1)
                found.append(NumericField(label, component.name, path, text))
    return found


def config_with(field: NumericField, value: str) -> str:
    """BASE, as YAML, with `value` (a YAML token) at the field's key."""
    data: Any = yaml.safe_load(yaml.safe_dump(BASE))
    if field.type_name:
        data[field.path[0]] = {"type": field.type_name, **NEEDS.get(field.type_name, {})}
    node = data
    for key, below in zip(field.path, field.path[1:], strict=False):
        node = node[key] if isinstance(node, list) else node.setdefault(key, [] if isinstance(below, int) else {})
    if isinstance(node, list):
        node.append("VALUE_UNDER_TEST")
    else:
        node[field.path[-1]] = "VALUE_UNDER_TEST"
    return yaml.safe_dump(data, allow_unicode=True).replace("VALUE_UNDER_TEST", value)


CASES = [
    pytest.param(field, value, id=f"{field.label}={value}")
    for field in numeric_fields()
    for value in VALUES
    if not (field.takes_text and value == "1e400")
]


def test_the_walk_finds_the_numbers_of_every_part() -> None:
    found = {field.label for field in numeric_fields()}
    for label in ("output(sounddevice).latency", "source(twitch).port", "voices[0].speed", "moderation.moderators[0]"):
        assert label in found
    assert MEANS_SOMETHING["0"] | MEANS_SOMETHING["-1"] <= found


@pytest.mark.parametrize(("field", "value"), CASES)
def test_a_nonsensical_number_is_one_line_at_its_key(tmp_path: Path, field: NumericField, value: str) -> None:
    text = config_with(field, value)
    if field.label in MEANS_SOMETHING.get(value, set()):
        load_config(write(tmp_path, text))
        return
    error = error_of(tmp_path, text)
    assert error.startswith(f"config.yaml: {_dotted(field.path)}: ") and "\n" not in error, error
