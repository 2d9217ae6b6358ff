#!/usr/bin/env bash
# The README's two commands: set up (idempotent, from the lock file) and run.
#   bash bot/setup.sh demo   # read the bundled sample chat aloud into out/ (no network, GPU or sound card)
#   bash bot/setup.sh test   # lint, type-check and run the whole test suite (what CI runs)
#   bash bot/setup.sh install  # set up only (a service install, a Jetson)
#   bash bot/setup.sh lock   # refresh uv.lock after editing pyproject.toml's dependencies
# Set-up installs exactly what uv.lock names into .venv (uv, pinned below, is bootstrapped into .uv/ if
# absent). Where the Python already has its own torch (a Jetson's JetPack build), that torch is kept and
# the lock minus torch is installed around it.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
python=${PYTHON:-python3}
venv=.venv

if ! "$python" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 15)))' 2>/dev/null; then
  echo "error: Python 3.10 to 3.14 is needed (the pinned torch has wheels for those); $python is $("$python" -V 2>&1)" >&2
  exit 1
fi

# uv: the project's own pinned release, so the lock is read the same way on every machine.
uv=uv
if [ "$(uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  uv=.uv/bin/uv
  if [ "$("$uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    echo "installing uv $UV_VERSION into .uv/ ..." >&2
    rm -rf .uv
    "$python" -m venv .uv
    .uv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
  fi
fi
export UV_PROJECT_ENVIRONMENT="$venv" UV_PYTHON="$python" UV_NO_PROGRESS=1

lock_is_current() {
  if ! "$uv" lock --check --quiet 2>/dev/null; then
    echo "error: uv.lock does not match pyproject.toml; refresh it with: bash bot/setup.sh lock" >&2
    exit 1
  fi
}

# keep_torch: the Python already imports torch and torchaudio (NVIDIA's JetPack wheels on a Jetson), so
# the PyPI build in the lock must not replace them. ISHOWTTS_KEEP_TORCH=1 asks for this anywhere (the
# test suite simulates a Jetson on x86_64 with it); ISHOWTTS_KEEP_TORCH=0 never keeps.
keep_torch() {
  case "${ISHOWTTS_KEEP_TORCH:-}" in
    1) return 0 ;;
    0) return 1 ;;
  esac
  [ "$(uname -m)" != x86_64 ] && "$python" -c 'import torch, torchaudio' >/dev/null 2>&1
}

# install [--extra test]: make .venv hold exactly the lock (for the given extras).
install() {
  if keep_torch; then
    local have
    have=$("$python" -c 'import torch; print(torch.__version__)')
    echo "keeping this Python's torch $have; installing the rest of uv.lock around it" >&2
    # A .venv made without the system's packages would hide the kept torch: make it anew.
    grep -qx 'include-system-site-packages = true' "$venv/pyvenv.cfg" 2>/dev/null || rm -rf "$venv"
    [ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv"
    # The lock's pinned list with torch, torchaudio and what only they need (CUDA wheels, triton) pruned,
    # installed without resolving: nothing can ask for, or replace, the torch that is already there.
    "$uv" export --frozen --quiet --no-hashes --no-emit-project --prune torch --prune torchaudio "$@" \
      -o "$venv/locked-without-torch.txt"
    "$uv" pip install --quiet --python "$venv/bin/python" --no-deps -r "$venv/locked-without-torch.txt"
    "$uv" pip install --quiet --python "$venv/bin/python" --no-deps -e .
  else
    if [ "$(uname -m)" != x86_64 ]; then
      echo "note: no torch/torchaudio in $python: installing PyPI's build, which has no Jetson GPU support" \
        "(README, Jetson)" >&2
    fi
    "$uv" sync --frozen --quiet "$@"
  fi
}

# install_pure: .venv-pure, the lock's test environment without torch and what is built on it (the
# engine's stack; nvidia and triton go with torch): the tests that need no torch run there
# (tests/pure_run.py), so nothing outside the engine can come to need it unnoticed. uv hard-links from
# its cache: seconds.
TORCH_STACK=(torch torchaudio f5-tts vocos x-transformers torchdiffeq accelerate ema-pytorch)
install_pure() {
  local pure=.venv-pure
  [ -x "$pure/bin/python" ] || "$uv" venv --quiet "$pure"
  "$uv" export --frozen --quiet --extra test "${TORCH_STACK[@]/#/--prune=}" -o "$pure/locked-pure.txt"
  "$uv" pip sync --quiet --python "$pure/bin/python" "$pure/locked-pure.txt"
  "$pure/bin/python" -c 'import importlib.util as u, sys
sys.exit(" ".join(m for m in ("torch", "f5_tts", "vocos", "triton", "nvidia") if u.find_spec(m)) or None)' ||
    { echo "error: .venv-pure must hold no torch (above: what it holds)" >&2; exit 1; }
}

# The runtime only; --inexact: a .venv that also holds the test tools keeps them.
install_runtime() {
  if keep_torch; then install; else install --inexact; fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  demo)
    lock_is_current
    install_runtime
    exec "$venv/bin/ishowtts-bot" demo "$@"
    ;;
  install)
    lock_is_current
    install_runtime
    ;;
  test)
    lock_is_current
    install --extra test
    # The runtime alone (no test extra), to prove that every bot module imports with what a user gets
    # (tests/test_runtime_env.py); uv hard-links from its cache, so this costs seconds, not gigabytes.
    if ! keep_torch; then
      UV_PROJECT_ENVIRONMENT=.venv-runtime "$uv" sync --frozen --quiet
      export ISHOWTTS_RUNTIME_PYTHON="$PWD/.venv-runtime/bin/python"
    fi
    # System tools the tests drive for real: systemd-analyze (the unit file), headless Chromium (the
    # status page), a PulseAudio server with parec, PortAudio and ALSA's pulse plugin (the sound card
    # path). Debian package names.
    missing=()
    command -v systemd-analyze >/dev/null || missing+=(systemd)
    command -v pulseaudio >/dev/null || missing+=(pulseaudio)
    command -v parec >/dev/null || missing+=(pulseaudio-utils)
    command -v chromium >/dev/null || missing+=(chromium)
    ldconfig -p | grep libportaudio.so.2 >/dev/null || missing+=(libportaudio2)  # not -q: SIGPIPE under pipefail
    ls /usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so >/dev/null 2>&1 || missing+=(libasound2-plugins)
    if [ ${#missing[@]} -gt 0 ]; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing ${missing[*]} for the tests..." >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      else
        echo "error: the tests need: sudo apt-get install ${missing[*]}" >&2
        exit 1
      fi
    fi
    install_pure
    "$venv/bin/ruff" check bot tests bench
    "$venv/bin/mypy"
    # Each test runs once, in the smallest environment that has what it needs: those that need no torch in
    # .venv-pure (where importing torch fails the run), then those marked `torch` in .venv. Exit status 5
    # is pytest's "nothing selected" (`-k config` may select nothing of one part): an error only for both.
    pure_part=0 torch_part=0
    .venv-pure/bin/python -m pytest --pure "$@" || pure_part=$?
    "$venv/bin/python" -m pytest --torch-only "$@" || torch_part=$?
    if [ "$pure_part$torch_part" = 55 ]; then exit 5; fi
    for status in "$pure_part" "$torch_part"; do
      if [ "$status" != 0 ] && [ "$status" != 5 ]; then exit "$status"; fi
    done
    ;;
  lock)
    exec "$uv" lock "$@"
    ;;
  *)
    echo "usage: bash bot/setup.sh demo|test|install|lock [args...]" >&2
    exit 2
    ;;
esac
