"""``release_free_memory`` gives the pages a fragmented heap freed back to the OS (glibc)."""

from __future__ import annotations

import platform

import psutil
import pytest

from services.runtime.memory import release_free_memory

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="malloc_trim is a glibc function"
)

MIB = 1 << 20
BLOCK = 4096
"""Bytes per object: above pymalloc's 512-byte limit, so each is a glibc allocation."""
BLOCKS = 50_000
"""About 200 MiB in all."""
KEPT_EVERY = 64
"""One block in 64 stays alive, so the heap's top cannot shrink by itself."""


def resident() -> int:
    return int(psutil.Process().memory_info().rss)


def test_the_freed_pages_of_a_fragmented_heap_are_returned() -> None:
    blocks = [bytes(BLOCK) + bytes([i % 256]) for i in range(BLOCKS)]
    kept = blocks[::KEPT_EVERY]
    del blocks
    before = resident()
    assert release_free_memory()
    after = resident()
    # ~63/64 of ~200 MiB was freed and kept by the allocator; most of it goes back.
    assert before - after > 100 * MIB, (before / MIB, after / MIB)
    assert len(kept) == -(-BLOCKS // KEPT_EVERY)
