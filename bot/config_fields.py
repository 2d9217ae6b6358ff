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
from importlib.resources import files
from pathlib import Path
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
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyProblem(ValueError):
    """What a whole-model check (a `model_validator`) finds wrong with one of the model's keys. Pydantic
    places such an error at the model itself (`source`); the config's error lines add `key` to it, so it
    reads like a field's own error: `config.yaml: source.gift_template: ...`, not `source: gift_template:`."""

    def __init__(self, key: str | tuple[str | int, ...], problem: str) -> None:
        self.key = (key,) if isinstance(key, str) else key
        self.problem = problem
        super().__init__(f"{'.'.join(map(str, self.key))}: {problem}")


def check_template(template: str | None, fields: tuple[str, ...], key: str) -> None:
    """A template may fill in only `fields`; raises KeyProblem naming `key` otherwise."""
    if template is None:
        return
    try:
        template.format(**dict.fromkeys(fields, ""))
    except (KeyError, IndexError, ValueError) as err:
        raise KeyProblem(key, f"only {', '.join('{' + f + '}' for f in fields)} can be filled in ({err!r})") from None
