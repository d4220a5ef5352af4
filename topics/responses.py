"""A fast, exact pre-check of questionnaire items, derived from the scoring definitions.

``scoring.validate_items`` is the rule (V/P rules of measures.md per measure) and names what
is wrong; it walks every item in Python, which dominates parsing a 47-item RCADS event. This
module tabulates, once per measure and informant, every ``(item key, response)`` pair that
``validate_items`` accepts: each item's finite grid of responses, filtered through the
definition's own ``ResponseRange.accepts``, plus ``None`` where an item may be unanswered.
A questionnaire whose pairs are all in the table and whose keys cover the required ones is
one that ``validate_items`` accepts, so only the others need the slow, explanatory check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from scoring import MEASURES
from scoring.types import ResponseRange

GRID_DECIMALS = 9
"""Responses on a decimal grid (0.1 steps) are tabulated as the nearest float, as JSON
``7.3`` decodes; other spellings fall through to ``validate_items``, which decides."""


@dataclass(frozen=True, slots=True)
class AcceptedResponses:
    pairs: frozenset[tuple[str, float | None]]
    required: frozenset[str]

    def accepts(self, items: Mapping[str, float | None]) -> bool:
        return self.pairs.issuperset(items.items()) and items.keys() >= self.required


def _grid(allowed: ResponseRange) -> set[float]:
    steps = round((allowed.high - allowed.low) / allowed.step)
    candidates = {round(allowed.low + k * allowed.step, GRID_DECIMALS) for k in range(steps + 1)}
    return {value for value in candidates | allowed.extra if allowed.accepts(value)}


@cache
def accepted_responses(measure: str, informant: str) -> AcceptedResponses:
    """The table for ``measure`` as completed by ``informant`` (both already known valid)."""
    definition = MEASURES[measure]
    required = definition.required[informant]
    pairs: set[tuple[str, float | None]] = set()
    for key in definition.columns[informant]:
        pairs.update((key, value) for value in _grid(definition.responses[key]))
        if not (definition.answer_required and key in required):
            pairs.add((key, None))
    return AcceptedResponses(frozenset(pairs), required)
