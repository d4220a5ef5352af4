"""The NHS-number guard: no real patient identifier enters the service (events.md § Envelope).

An NHS number is 10 digits whose last is a mod-11 check digit: weight the first nine digits
10, 9, …, 2, sum, take the remainder mod 11; the check digit is 11 − remainder (11 → 0, and
10 means no valid number has those nine digits). It is often written 3-3-4 with spaces.

- :func:`looks_like_nhs_number`: a ``patient_id`` or ``referral_id`` whose digits, once
  whitespace is removed, are exactly a valid NHS number is rejected (``privacy.nhs_number``).
  Only the whole identifier counts: a pseudonymised hash that happens to contain ten digits
  in a row is not an NHS number, and rejecting it would lose good data.
- :func:`redact`: the dead letter keeps the original bytes for diagnosis, so every run of
  exactly ten digits (spaces, tabs and JSON ``\\uXXXX`` escapes of them allowed inside the run)
  that passes the check is replaced, wherever it appears in the message. Over-redacting a
  dead letter costs nothing; keeping one real number would be a breach.
"""

from __future__ import annotations

import re
from typing import Final

NHS_NUMBER_DIGITS: Final = 10
CHECK_WEIGHTS: Final = (10, 9, 8, 7, 6, 5, 4, 3, 2)
REDACTED: Final = b"[redacted NHS number]"

_DIGIT: Final = rb"(?:[0-9]|\\u003[0-9])"
_GAP: Final = rb"(?:[ \t]|\\u0020|\\u00[aA]0|\\t)*"
_DIGIT_RUN: Final = re.compile(_DIGIT + rb"(?:" + _GAP + _DIGIT + rb")*")
_ESCAPED_DIGIT: Final = re.compile(rb"\\u003([0-9])")
_GROUP: Final = re.compile(_DIGIT + rb"+")


def is_nhs_number(digits: str) -> bool:
    """Whether ``digits`` (ten ASCII digits, nothing else) carries a valid mod-11 check digit."""
    if len(digits) != NHS_NUMBER_DIGITS or not (digits.isascii() and digits.isdigit()):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(digits, CHECK_WEIGHTS, strict=False))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[-1])


def looks_like_nhs_number(identifier: str) -> bool:
    """Whether ``identifier`` is an NHS number, written with or without any whitespace."""
    if len(identifier) < NHS_NUMBER_DIGITS:
        return False
    return is_nhs_number("".join(identifier.split()))


def _digits(group: bytes) -> str:
    return _ESCAPED_DIGIT.sub(rb"\1", group).decode("ascii")


def _redact_run(match: re.Match[bytes]) -> bytes:
    """Redact each sequence of whole gap-separated groups that spells a valid NHS number.

    A run such as ``2024 943 476 5919`` holds the number after its first group, so every
    sequence of consecutive groups with ten digits in all is tried, not only the whole run.
    """
    run = match.group(0)
    groups = [(found.start(), found.end(), _digits(found[0])) for found in _GROUP.finditer(run)]
    spans: list[tuple[int, int]] = []
    for first, (start, _, _) in enumerate(groups):
        digits = ""
        for _, end, group_digits in groups[first:]:
            digits += group_digits
            if len(digits) >= NHS_NUMBER_DIGITS:
                if is_nhs_number(digits):
                    spans.append((start, end))
                break
    if not spans:
        return run
    redacted = bytearray()
    position = 0
    for start, end in spans:
        if start >= position:
            redacted += run[position:start] + REDACTED
            position = end
        elif end > position:
            position = end
    return bytes(redacted + run[position:])


def redact_text(text: str) -> str:
    """:func:`redact` for a message that may quote a rejected value."""
    return redact(text.encode()).decode()


def redact(raw: bytes) -> bytes:
    """``raw`` with every valid NHS number (spaced or not, JSON-escaped or not) replaced."""
    return _DIGIT_RUN.sub(_redact_run, raw)
