"""Dead letters (events.md § Dead letters): what was received, from where, and why not."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Final

from topics.privacy import redact
from topics.problems import Problem
from topics.records import SCORING_VERSION, DeadLetter

MAX_KEPT_ORIGINAL_BYTES: Final = 64 * 1024
"""P: the most of the original a dead letter keeps. Base64 adds a third, so a whole
near-1 MiB event would make a record over the broker's 1 MiB limit that can never be
published (and would stop the worker); the largest real event is a few kB."""


def dead_letter(
    raw: bytes,
    problems: list[Problem],
    source: str,
    *,
    received_at: datetime | None = None,
    scoring_version: str = SCORING_VERSION,
) -> DeadLetter:
    """The dead letter of ``raw``; its ``error_code`` is the first problem's.

    The original bytes are kept for diagnosis, up to :data:`MAX_KEPT_ORIGINAL_BYTES` (the
    message says when they are cut), with every NHS number redacted
    (:func:`topics.privacy.redact`; a :class:`Problem`'s message is redacted when it is
    made): the dead-letter topic must never hold one.
    """
    if not problems:
        raise ValueError("a dead letter needs at least one problem")
    kept = redact(raw)
    message = "; ".join(problem.message for problem in problems)
    redacted = kept != raw
    if len(kept) > MAX_KEPT_ORIGINAL_BYTES:
        message += f" (original cut to its first {MAX_KEPT_ORIGINAL_BYTES} of {len(raw)} bytes)"
        kept = kept[:MAX_KEPT_ORIGINAL_BYTES]
    return DeadLetter(
        source=source,
        error_code=problems[0].error_code,
        problems=problems,
        message=message,
        original_base64=base64.b64encode(kept).decode("ascii"),
        redacted=redacted,
        received_at=received_at or datetime.now(UTC),
        scoring_version=scoring_version,
    )
