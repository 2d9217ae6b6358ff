"""The install (`bot/setup.sh`): what a user gets is enough to run every module, and a Jetson keeps its torch."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNTIME_PYTHON = os.environ.get("ISHOWTTS_RUNTIME_PYTHON")
JETPACK_TORCH = "2.5.0a0+nv24.08"

# Imports every `bot` module but `bot.__main__` (importing that runs the command line), and proves it runs
# in the runtime environment: none of the test extra is there.
WALK = """
import importlib, importlib.util, pkgutil, bot
names = [m.name for m in pkgutil.walk_packages(bot.__path__, "bot.") if m.name != "bot.__main__"]
for name in names:
    importlib.import_module(name)
extra = [m for m in ("pytest", "hypothesis", "trustme", "mypy", "ruff") if importlib.util.find_spec(m)]
assert not extra, f"test tools in the runtime environment: {extra}"
print(len(names))
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    env.update(extra)
    return env


@pytest.mark.skipif(not RUNTIME_PYTHON, reason="`bash bot/setup.sh test` provides the runtime-only environment")
def test_every_bot_module_imports_in_the_runtime_environment(tmp_path: Path) -> None:
    assert RUNTIME_PYTHON
    done = subprocess.run(
        [RUNTIME_PYTHON, "-c", WALK], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip()) > 40


def fake_distribution(site: Path, name: str, version: str) -> None:
    """A stand-in for JetPack's wheel: an importable package and its dist-info, as pip would leave them."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(f'__version__ = "{version}"\n', encoding="utf-8")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    (info / "INSTALLER").write_text("pip\n", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def copy_installer(to: Path) -> Path:
    """The files set-up reads, in a folder of their own (set-up works in the repository it lives in)."""
    repo = to / "repo"
    repo.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(REPO / name, repo / name)
    shutil.copytree(REPO / "bot", repo / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    return repo


def installer_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(REPO / ".uv" / "bin"), os.environ.get("PATH", "")])
    return clean_env(PYTHON=sys.executable, PATH=path, **extra)


def test_a_lock_that_disagrees_with_pyproject_stops_set_up_in_one_line(tmp_path: Path) -> None:
    repo = copy_installer(tmp_path)
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace('"pyyaml>=6"', '"pyyaml>=6.0.1"'))
    done = subprocess.run(
        ["bash", "bot/setup.sh", "install"], cwd=repo, env=installer_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    drift = "error: uv.lock does not match pyproject.toml; refresh it with: bash bot/setup.sh lock"
    assert done.stderr.strip() == drift
    assert not (repo / ".venv").exists()


def test_a_jetson_keeps_its_own_torch_and_gets_the_rest_of_the_lock(tmp_path: Path) -> None:
    """On x86_64, a Python whose torch is JetPack-style (`2.5.0a0+nv24.08`, which pip does not count as
    `>=2.5`) goes through the installer; its torch must be the one the venv imports afterwards."""
    repo = copy_installer(tmp_path)
    jetpack = tmp_path / "jetpack-site-packages"
    fake_distribution(jetpack, "torch", JETPACK_TORCH)
    fake_distribution(jetpack, "torchaudio", JETPACK_TORCH)
    before = tree_digest(jetpack)

    env = installer_env(PYTHONPATH=str(jetpack), ISHOWTTS_KEEP_TORCH="1")
    done = subprocess.run(
        ["bash", "bot/setup.sh", "install"], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"keeping this Python's torch {JETPACK_TORCH}" in done.stderr

    venv_python = repo / ".venv" / "bin" / "python"
    probe = (
        "import importlib.metadata as m, importlib.util as u, torch;"
        "assert u.find_spec('f5_tts') and u.find_spec('bot.cli');"
        "print(torch.__version__, m.version('torch'), m.version('torchaudio'), m.version('x-transformers'))"
    )
    seen = subprocess.run([venv_python, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert seen.returncode == 0, seen.stderr[-3000:]
    torch_version, torch_dist, torchaudio_dist, x_transformers = seen.stdout.split()
    assert (torch_version, torch_dist, torchaudio_dist) == (JETPACK_TORCH,) * 3
    locked = (REPO / "uv.lock").read_text(encoding="utf-8")
    assert f'name = "x-transformers"\nversion = "{x_transformers}"' in locked  # the rest is the lock's

    site = next((repo / ".venv" / "lib").glob("python3*/site-packages"))
    for own in ("torch", "torchaudio", "triton", "nvidia"):
        assert not (site / own).exists(), f"the installer put its own {own} into the venv"
    assert tree_digest(jetpack) == before  # the system's torch was not touched
