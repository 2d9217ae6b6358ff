"""The pure run, `pytest --pure`: every test that needs no torch. CI runs it in an environment without
torch, f5-tts or vocos (`bash bot/setup.sh test`), so nothing outside the engine can come to need them
unnoticed (f5-tts's two example voices are stood in for by `bot/testing/voice_clips.py`).

A test needs torch when it is marked `torch`: by hand, by its module's `pytestmark = pytest.mark.torch`
(such a module may import torch at the top: the pure run does not even import it), or by using the tiny
model's fixtures (`tiny_model`, `tiny_config`). The pure run leaves those out (`--torch-only` runs just
those) and blocks torch: an import of it raises at once, naming the test, and the run fails at the end
even where the error was caught. So `pytest --pure` behaves in the full environment as in the
torch-less one.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

import pytest

TORCH_FIXTURES = frozenset({"tiny_model", "tiny_config"})
BLOCKED = ("torch", "torchaudio", "triton", "vocos")
"""torch and the packages beside it (f5-tts's code imports torch first; its example voices are data)."""


class TorchBlocker:
    """A meta-path finder that refuses torch and remembers who asked."""

    def __init__(self) -> None:
        self.current = "collection"
        self.attempts: list[tuple[str, str]] = []

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if any(name == blocked or name.startswith(blocked + ".") for blocked in BLOCKED):
            self.attempts.append((name, self.current))
            raise ImportError(f"the pure run (pytest --pure) imports no torch, but {self.current} imported {name}")
        return None


BLOCKER = pytest.StashKey[TorchBlocker]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pure", action="store_true", help="only the tests that need no torch, and fail if torch is imported"
    )
    parser.addoption("--torch-only", action="store_true", help="only the tests that need torch (what --pure leaves)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "torch: needs torch (the engine, the tiny model); left out by --pure")
    if config.getoption("pure") and config.getoption("torch_only"):
        raise pytest.UsageError("--pure and --torch-only: choose one")
    if config.getoption("pure"):
        leaked = [name for name in sys.modules if name.partition(".")[0] in BLOCKED]
        if leaked:
            raise pytest.UsageError(f"--pure: torch was imported before the tests started: {sorted(leaked)[:5]}")
        blocker = TorchBlocker()
        sys.meta_path.insert(0, blocker)
        config.stash[BLOCKER] = blocker


def declares_torch(path: Path) -> bool:
    """Whether the module at `path` says `pytestmark = pytest.mark.torch` (read, not imported)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError):
        return False  # collecting it reports the problem
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            return "mark.torch" in ast.unparse(node.value)
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("pure") and collection_path.suffix == ".py" and declares_torch(collection_path):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if TORCH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("torch")
    torch_only = config.getoption("torch_only")
    if config.getoption("pure") or torch_only:
        kept = [item for item in items if needs_torch(item) == torch_only]
        config.hook.pytest_deselected(items=[item for item in items if needs_torch(item) != torch_only])
        items[:] = kept


def needs_torch(item: pytest.Item) -> bool:
    return item.get_closest_marker("torch") is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> object:
    blocker = item.config.stash.get(BLOCKER, None)
    if blocker is not None:
        blocker.current = item.nodeid
    try:
        return (yield)
    finally:
        if blocker is not None:
            blocker.current = "between tests"


def pytest_sessionfinish(session: pytest.Session) -> None:
    blocker = session.config.stash.get(BLOCKER, None)
    if blocker is not None and blocker.attempts:
        lines = "\n".join(f"  {name} by {who}" for name, who in blocker.attempts)
        sys.stderr.write(f"\nthe pure run must not import torch, yet it was asked for:\n{lines}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
