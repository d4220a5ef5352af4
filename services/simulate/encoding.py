"""Identifiers, dates and times in the shapes events.md asks for, drawn from a seeded generator."""

from __future__ import annotations

import base64
import functools
import random
from datetime import date, timedelta

from services.simulate.parameters import DAY


def mark(value: float) -> float:
    """A visual-analogue mark: 0–10 to one decimal."""
    return round(min(10.0, max(0.0, value)), 1)


def nhs_number(rng: random.Random) -> str:
    """A 10-digit number that passes the NHS mod-11 check: only ever used to test the guard."""
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check != 10:  # 10 is never issued; 11 means 0
            return "".join(map(str, digits)) + str(check % 11)


def uuid4(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, formatted three times faster."""
    bits = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(bits[16], 16) & 3]
    return f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-{variant}{bits[17:20]}-{bits[20:]}"


def token(rng: random.Random, n_bytes: int) -> str:
    """A random-looking pseudonymous identifier of [A-Za-z0-9_-]; its length (16 or 12
    characters) can never be that of a 10-digit NHS number."""
    return base64.urlsafe_b64encode(rng.getrandbits(8 * n_bytes).to_bytes(n_bytes)).decode()


@functools.lru_cache(maxsize=2048)
def day_and_offset(ordinal: int) -> tuple[str, str]:
    """ISO date and the UK offset in force on that day (BST: last Sunday of March to last
    Sunday of October)."""
    day = date.fromordinal(ordinal)
    march, october = date(day.year, 3, 31), date(day.year, 10, 31)
    bst_from = march - timedelta(days=(march.weekday() + 1) % 7)
    bst_until = october - timedelta(days=(october.weekday() + 1) % 7)
    return day.isoformat(), "+01:00" if bst_from <= day < bst_until else "+00:00"


def iso_day(ordinal: int) -> str:
    return day_and_offset(ordinal)[0]


def timestamp(seconds: int) -> str:
    ordinal, second = divmod(seconds, DAY)
    day, offset = day_and_offset(ordinal)
    return f"{day}T{clock(second)}{offset}"


@functools.cache
def clock(second: int) -> str:
    hour, rest = divmod(second, 3600)
    return f"{hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
