"""What every settings model is built from, in the central config and in each source's and output's own
package: a strict frozen model, config paths resolved against the config file's folder, and the check
of a template's `{fields}`. Kept apart from bot/config.py so a component's package can use them while
the central config imports the components.

Two non-filesystem path forms are understood:
- `hf://owner/repo/path/in/repo` for files on the Hugging Face hub (downloaded on first use), and
  `hf://owner/repo` for the vocoder's hub repo;
- `f5-tts:relative/path` for files bundled inside the installed f5-tts package (its example voices).
"""

from __future__ import annotations

import os
import re
from importlib.resources import files
from pathlib import Path
from string import Formatter
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

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
    """Unknown keys are errors, and so is a number that is not finite (`.nan`, `.inf`, `1e400`): infinity
    passes a lower bound alone (`max_age_s: 1e400` would hold messages forever), a field with no bound takes
    either, and NaN that meets a bound is refused as "greater than 0", which does not say what is wrong."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class KeyProblem(ValueError):
    """What a whole-model check (a `model_validator`) finds wrong with one of the model's keys. Pydantic
    places such an error at the model itself (`source`); the config's error lines add `key` to it, so it
    reads like a field's own error: `config.yaml: source.gift_template: ...`, not `source: gift_template:`."""

    def __init__(self, key: str | tuple[str | int, ...], problem: str) -> None:
        self.key = (key,) if isinstance(key, str) else key
        self.problem = problem
        super().__init__(f"{'.'.join(map(str, self.key))}: {problem}")


def check_template(template: str | None, fields: tuple[str, ...], key: str) -> frozenset[str]:
    """The placeholders `template` fills in, each one of `fields` written plainly (`{uname}`); raises KeyProblem
    naming `key` otherwise, in a streamer's words. Formatting inside the braces (`{count:d}`, `{uname.x}`,
    `{uname[0]}`, `{uname!r}`) is refused too: the values are the source's own, some filled in as text, so what
    a test with sample values accepted could still fail on a real viewer's event (or say an attribute)."""
    if template is None:
        return frozenset()
    known = f"(known: {', '.join('{' + f + '}' for f in fields)})" if fields else "(this template has none)"
    try:
        parsed = [(name, spec, conv) for _, name, spec, conv in Formatter().parse(template) if name is not None]
    except ValueError:  # a lone or unclosed brace
        brace = "a { or } without its pair: a placeholder is written {name}, a brace itself {{ or }}"
        raise KeyProblem(key, f"{brace} {known}") from None
    for name, spec, conv in parsed:
        plain = re.split(r"[.\[]", name, maxsplit=1)[0]
        written = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        if plain not in fields:
            raise KeyProblem(key, f"unknown placeholder {written} {known}")
        if written != "{" + plain + "}":
            raise KeyProblem(key, f"placeholder {written}: write it as {{{plain}}}, nothing else inside the braces")
    return frozenset(name for name, _, _ in parsed)
