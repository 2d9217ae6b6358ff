"""What a chat source type or an audio output type is to the rest of the bot (mopidy's extension
pattern): its settings model, its `check` and its factory, kept together in the type's own package
(`bot/sources/<type>/__init__.py`, `bot/sinks/<type>/__init__.py`) and listed by `type:` name in
bot/registry.py.

Why: the central config, `ishowtts-bot check` and the daemon's wiring then never name a type. The config
validates `source:` and `output:` as the union of the registered settings models, picked by `type`, and
`check` and the factories look the configured type up. Adding a platform is one new package and one line
in the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from bot.config_fields import Strict

if TYPE_CHECKING:  # bot.protocols imports the central config, which imports the components
    from bot.protocols import AudioSink, ChatSource


class SourceSettings(Strict):
    """What every source type's settings share: `type`, a one-value Literal in each, that names it."""

    type: str


class OutputSettings(Strict):
    """What every output type's settings share: `type`, a one-value Literal in each, that names it."""

    type: str


@dataclass
class Findings:
    """What `ishowtts-bot check` says about one part of the config, one line each naming its key
    (`source.path: file not found: ...`): problems make it exit 1, notes are said and pass."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def nothing_to_check(settings: object) -> Findings:
    """The check of a type whose settings the schema validates completely."""
    return Findings()


S = TypeVar("S", bound=Strict)
SS = TypeVar("SS", bound=SourceSettings)
OS = TypeVar("OS", bound=OutputSettings)


@dataclass(frozen=True)
class Component(Generic[S]):
    settings: type[S]

    @property
    def name(self) -> str:
        """The `type:` that picks it: the one value of its settings' `type` Literal."""
        (name,) = get_args(self.settings.model_fields["type"].annotation)
        return str(name)


@dataclass(frozen=True)
class SourceComponent(Component[SS]):
    """A chat source type. `make` builds the source; the heavy imports happen there, when it is chosen."""

    make: Callable[[SS], ChatSource]
    check: Callable[[SS], Findings] = nothing_to_check


@dataclass(frozen=True)
class OutputComponent(Component[OS]):
    """An audio output type. `make` builds the sink; audio that waited `stale_after_s` (the queue's age
    limit) for a device that was away is dropped rather than played late, where the output can wait."""

    make: Callable[[OS, float | None], AudioSink]
    check: Callable[[OS], Findings] = nothing_to_check


C = TypeVar("C", bound=Component[Any])


class Registry(Generic[C]):
    """The components of one slot of the config (`source`, `output`), by type name. As pydantic
    metadata (`Annotated[SourceSettings, SOURCES]`) it validates the slot as the tagged union of the
    registered settings models, picked by `type`."""

    def __init__(self, slot: str, *components: C) -> None:
        self.slot = slot
        self._by_name = {c.name: c for c in components}
        if len(self._by_name) != len(components):
            raise ValueError(f"{slot}: two components have the same type name")

    def __getitem__(self, name: str) -> C:
        return self._by_name[name]

    def __iter__(self) -> Iterator[C]:
        return iter(self._by_name.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def __get_pydantic_core_schema__(self, source_type: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        choices = {c.name: handler.generate_schema(c.settings) for c in self}
        union = core_schema.tagged_union_schema(choices, discriminator="type")
        return core_schema.no_info_before_validator_function(self._yaml_null_type, union)

    def _yaml_null_type(self, value: Any) -> Any:
        """`type: null` parses as YAML's null; where a type is called "null", that is the one meant."""
        if isinstance(value, dict) and "type" in value and value["type"] is None and "null" in self._by_name:
            return {**value, "type": "null"}
        return value
