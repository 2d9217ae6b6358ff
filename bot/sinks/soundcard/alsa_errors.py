"""ALSA's own complaints, counted instead of printed.

alsa-lib writes its errors straight to stderr — "underrun occurred" once per xrun (hundreds in minutes
when the audio server starves), and a screenful of "Unknown PCM" lines while PortAudio probes devices —
where a streamer reads them as the bot failing and `/metrics` never sees them. alsa-lib lets a program
install its own error handler: ours counts (xruns apart from the rest) and prints nothing. It runs on
whichever thread ALSA complains from, so it only increments integers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

# snd_lib_error_handler_t is (file, line, function, err, fmt, ...): the fixed arguments are declared and
# the variadic ones never read, which the x86-64 and AArch64 calling conventions allow.
_Handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)


@dataclass
class AlsaErrors:
    xruns: int = 0
    """"%s occurred" from snd_pcm_recover: an underrun (playback) the audio server reported."""
    other: int = 0


counts = AlsaErrors()
_installed: object | None = None  # the C callback must stay referenced for the life of the process


def _handle(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None) -> None:
    if fmt is not None and fmt.endswith(b"occurred"):
        counts.xruns += 1
    else:
        counts.other += 1


def capture() -> bool:
    """Install the handler (once per process); False where there is no ALSA library to ask."""
    global _installed
    if _installed is not None:
        return True
    name = ctypes.util.find_library("asound")
    if name is None:
        return False
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return False
    handler = _Handler(_handle)
    lib.snd_lib_error_set_handler(handler)
    _installed = handler
    return True
