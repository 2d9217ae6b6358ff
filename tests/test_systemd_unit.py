"""The shipped unit passes `systemd-analyze verify` without a single line of output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).parent.parent / "systemd" / "ishowtts-bot.service"


def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: bot/setup.sh installs Debian's systemd package for the tests")
    exe = Path(sys.executable).parent / "ishowtts-bot"
    text = UNIT.read_text(encoding="utf-8").replace("/opt/ishowtts-bot/.venv/bin/ishowtts-bot", str(exe))
    unit = tmp_path / "ishowtts-bot.service"
    unit.write_text(text, encoding="utf-8")
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr


def test_unit_keeps_cuda_and_audio_reachable() -> None:
    keys = {line.split("=", 1)[0] for line in UNIT.read_text(encoding="utf-8").splitlines() if "=" in line}
    assert "MemoryDenyWriteExecute" not in keys and "PrivateDevices" not in keys
    assert {"Type", "WatchdogSec", "NoNewPrivileges", "ProtectSystem", "UMask", "StateDirectory"} <= keys
