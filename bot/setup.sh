#!/usr/bin/env bash
# The README's two commands: set up (once, idempotent) and run.
#   bash bot/setup.sh demo   # read the bundled chat replay aloud into out/ (no network, GPU or sound card)
#   bash bot/setup.sh test   # lint, type-check and run the whole test suite (what CI runs)
# Setup = a virtual environment in .venv with this package and its pinned dependencies; it is redone
# only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=.venv
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "error: Python 3.10 or newer is needed ($python is $("$python" -V 2>&1))" >&2
  exit 1
fi

stamp="$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.setup-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "setting up $venv (first run downloads PyTorch and f5-tts: a few minutes)..." >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e '.[test]'
  echo "$stamp" > "$venv/.setup-stamp"
fi

cmd=${1:-}
shift || true
case "$cmd" in
  demo)
    exec "$venv/bin/ishowtts-bot" demo "$@"
    ;;
  test)
    # System tools the tests drive for real: systemd-analyze (the unit file), headless Chromium (the
    # status page), a PulseAudio server with
    # parec, PortAudio and ALSA's pulse plugin (the sound card path). Debian package names.
    missing=()
    command -v systemd-analyze >/dev/null || missing+=(systemd)
    command -v pulseaudio >/dev/null || missing+=(pulseaudio)
    command -v parec >/dev/null || missing+=(pulseaudio-utils)
    command -v chromium >/dev/null || missing+=(chromium)
    ldconfig -p | grep -q libportaudio.so.2 || missing+=(libportaudio2)
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
    "$venv/bin/ruff" check bot tests bench
    "$venv/bin/mypy"
    exec "$venv/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: bash bot/setup.sh demo|test [args...]" >&2
    exit 2
    ;;
esac
