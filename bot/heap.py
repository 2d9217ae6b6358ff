"""Handing the heap's free memory back to the system, from the GPU worker thread now and then.

Why: every chat message is a different shape (text length × batch size), and each synthesis allocates
and frees its buffers on the host (on the CPU engine, all of them). glibc keeps freed memory in its arenas
for reuse, but pieces of one shape rarely fit the next, so the process grew ~13 MB/min at 50 messages/s
without levelling off (docs/benchmarks.md, "Memory soak"): memory free inside the process, not in use.
`malloc_trim(0)` returns those free pages. Elsewhere than glibc this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _find_malloc_trim()


def release_free_heap() -> None:
    """Return the heap's free pages to the system (a few milliseconds: call it between jobs)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
