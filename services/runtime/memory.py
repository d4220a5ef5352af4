"""Hand freed heap back to the operating system after a large piece of work.

A derivation pass builds and drops tens of megabytes of short-lived objects (every event of
thousands of referrals, their scores and records). glibc's allocator keeps what the pass
freed for later, so a worker's resident memory rose with its largest pass and stayed there:
in a 10-minute soak it looked like a leak (issue 8), though the live Python heap hardly grew.
``malloc_trim(0)`` returns the free pages at the top of every arena and the unused whole
pages inside them; elsewhere (musl, macOS) there is nothing to call and nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def release_free_memory() -> bool:
    """Give the allocator's free pages back to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
