"""Time-ordered UUIDs (RFC 9562 version 7).

Random v4 ids scatter inserts across a B-tree index; v7 ids grow with time, so bulk
loads append to the right edge of the primary-key index instead.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_RAND_B_MASK = (1 << 62) - 1
_POOL_IDS = 1024


class _Entropy(threading.local):
    """os.urandom per id is a system call (a few µs); one call per 1024 ids is not."""

    def __init__(self) -> None:
        self.pool = b""
        self.offset = 0

    def take10(self) -> int:
        if self.offset >= len(self.pool):
            self.pool, self.offset = os.urandom(10 * _POOL_IDS), 0
        start = self.offset
        self.offset += 10
        return int.from_bytes(self.pool[start : start + 10], "big")


_entropy = _Entropy()


def new_id() -> uuid.UUID:
    """Return a new version-7 UUID: 48-bit Unix milliseconds, then 74 random bits."""
    millis = time.time_ns() // 1_000_000
    rand = _entropy.take10()
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | ((rand >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | (rand & _RAND_B_MASK)
    )
    return uuid.UUID(int=value)
