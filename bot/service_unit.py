"""The systemd units, rendered for this install: `ishowtts-bot install-service [--user]`.

The files in the repository's `systemd/` folder are these renders for the default paths (a test keeps
them equal), so what is documented, verified and installed is one text.

Two variants. The system service runs as a dynamic user in the audio/video/render groups with the
hardening that leaves CUDA and PortAudio working: no `MemoryDenyWriteExecute` (PyTorch's JIT/Triton
and cffi's callbacks need writable+executable memory) and no `PrivateDevices` (it hides /dev/snd and
the GPU's device nodes). The user service runs in the streamer's login session, where PulseAudio or
PipeWire lives (a system service cannot reach a user's sound server: name an ALSA `hw:` device there).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

SYSTEM_CONFIG = "/etc/ishowtts-bot/config.yaml"
USER_CONFIG = "%E/ishowtts-bot/config.yaml"
DEFAULT_EXEC = "/opt/ishowtts-bot/.venv/bin/ishowtts-bot"

_COMMON_SERVICE = """\
# READY=1 once the model is warm and the chat connected (EXTEND_TIMEOUT_USEC while loading);
# WATCHDOG=1 only while the GPU thread answers; SIGHUP (systemctl reload) re-reads the config.
Type=notify
NotifyAccess=main
ExecStart={exec_start} run -c {config}
ExecReload=/bin/kill -HUP $MAINPID
WatchdogSec=60
# Loading and warming up takes ~1 min on an H100, longer on a Jetson; the bot extends it while it works.
TimeoutStartSec=300
# Below TimeoutStopSec: a stop ends within 20 s (the utterance in progress gets up to 12 s of that).
TimeoutStopSec=30
# HTTP connections are capped (http.max_connections, and below half of this), so clients can never use up
# the descriptors that the audio output and the state files need.
LimitNOFILE=8192
Restart=on-failure
RestartSec=5
StateDirectory=ishowtts-bot
CacheDirectory=ishowtts-bot
ConfigurationDirectory=ishowtts-bot
Environment=PYTHONUNBUFFERED=1
"""

SYSTEM_UNIT = (
    """\
# iShowTTS bot as a system service. Install with `ishowtts-bot install-service` (or copy this file to
# /etc/systemd/system/ and fix ExecStart), put the config in /etc/ishowtts-bot/config.yaml, then
#   systemctl daemon-reload && systemctl enable --now ishowtts-bot
# Audio: a system service cannot reach a user's PulseAudio/PipeWire; name an ALSA hw: device, or use
# the --user unit.
[Unit]
Description=iShowTTS bot: reads the live chat aloud in a cloned voice
Documentation=https://github.com/ishowtts/ishowtts-bot#readme
After=network-online.target sound.target
Wants=network-online.target
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
"""
    + _COMMON_SERVICE
    + """\
Environment=HF_HOME=/var/cache/ishowtts-bot/huggingface
DynamicUser=yes
SupplementaryGroups=audio video render
# Bilibili cookies and the HTTP token (ISHOWTTS_HTTP_TOKEN) live here, readable by root only.
EnvironmentFile=-/etc/ishowtts-bot/credentials.env
# Hardening that leaves CUDA and PortAudio working. Deliberately NOT set: MemoryDenyWriteExecute
# (PyTorch's JIT/Triton and cffi callbacks need writable+executable memory) and PrivateDevices
# (it hides /dev/snd and the GPU's device nodes).
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateMounts=yes
UMask=0077
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictNamespaces=yes
RemoveIPC=yes
CapabilityBoundingSet=
SystemCallArchitectures=native
# Not set either: SystemCallFilter. The NVIDIA driver's user space (and JetPack's) makes calls that no
# allow-list here has been tested against; a filtered call would kill the bot mid-stream.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
"""
)

USER_UNIT = (
    """\
# iShowTTS bot in your login session, next to PulseAudio/PipeWire. Install with
# `ishowtts-bot install-service --user`, put the config in ~/.config/ishowtts-bot/config.yaml, then
#   systemctl --user daemon-reload && systemctl --user enable --now ishowtts-bot
# To keep it running while logged out: loginctl enable-linger $USER
[Unit]
Description=iShowTTS bot: reads the live chat aloud in a cloned voice
Documentation=https://github.com/ishowtts/ishowtts-bot#readme
After=network-online.target pipewire-pulse.service pulseaudio.service
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
"""
    + _COMMON_SERVICE
    + """\
# Bilibili cookies and the HTTP token (ISHOWTTS_HTTP_TOKEN): a file only you can read.
EnvironmentFile=-%E/ishowtts-bot/credentials.env
NoNewPrivileges=yes
UMask=0077
LockPersonality=yes
RestrictSUIDSGID=yes

[Install]
WantedBy=default.target
"""
)


def render(user: bool, exec_start: str = DEFAULT_EXEC, config: str | None = None) -> str:
    template = USER_UNIT if user else SYSTEM_UNIT
    return template.format(exec_start=exec_start, config=config or (USER_CONFIG if user else SYSTEM_CONFIG))


def this_install_exec() -> str:
    """The `ishowtts-bot` next to this Python (a venv's bin/), else `python -m bot`."""
    script = Path(sys.executable).parent / "ishowtts-bot"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m bot"


def unit_path(user: bool) -> Path:
    if user:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return Path(base) / "systemd" / "user" / "ishowtts-bot.service"
    return Path("/etc/systemd/system/ishowtts-bot.service")
