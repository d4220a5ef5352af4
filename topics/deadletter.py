"""Dead letters (events.md § Dead letters): what was received, from where, and why not."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from topics.privacy import redact
from topics.problems import Problem
from topics.records import SCORING_VERSION, DeadLetter


def dead_letter(
    raw: bytes,
    problems: list[Problem],
    source: str,
    *,
    received_at: datetime | None = None,
    scoring_version: str = SCORING_VERSION,
) -> DeadLetter:
    """The dead letter of ``raw``; its ``error_code`` is the first problem's.

    The original bytes are kept for diagnosis, with every NHS number redacted
    (:func:`topics.privacy.redact`): the dead-letter topic must never hold one.
    """
    if not problems:
        raise ValueError("a dead letter needs at least one problem")
    kept = redact(raw)
    return DeadLetter(
        source=source,
        error_code=problems[0].error_code,
        problems=problems,
        message="; ".join(problem.message for problem in problems),
        original_base64=base64.b64encode(kept).decode("ascii"),
        redacted=kept != raw,
        received_at=received_at or datetime.now(UTC),
        scoring_version=scoring_version,
    )
