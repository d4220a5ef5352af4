"""Coded scores of ``assessment.scored`` against the MHSDS SNOMED CT table (events.md).

As the national method does, a score whose code is unknown (``schema.unknown_snomed``) or
whose value lies outside its code's valid range (``schema.out_of_range``) is left out and the
rest of the assessment stands (N1, measures.md § MHSDS coded scores). The table is
:data:`scoring.codes.CODES`, the one copy of ``mhsds_codes.json``; nothing is duplicated here.
"""

from __future__ import annotations

from scoring.codes import CODES
from topics.events import AssessmentScoredPayload, CodedScore
from topics.problems import ErrorCode, Problem


def _problem(index: int, score: CodedScore) -> Problem | None:
    field = f"payload.scores.{index}"
    coded = CODES.get(score.snomed)
    if coded is None:
        return Problem(
            ErrorCode.UNKNOWN_SNOMED,
            field,
            f"{field}: SNOMED CT code {score.snomed} is not an MHSDS coded score; "
            "expected a code of the MHSDS reference data (docs/integrating.md)",
        )
    if not coded.in_range(score.value):
        return Problem(
            ErrorCode.OUT_OF_RANGE,
            field,
            f"{field}: {score.value:g} is outside the valid range {coded.low:g}-{coded.high:g} "
            f"of {score.snomed} ({coded.measure} {coded.informant} {coded.scale})",
        )
    return None


def screen_scores(payload: AssessmentScoredPayload) -> AssessmentScoredPayload:
    """``payload`` keeping its valid scores, with a problem per left-out score in ``rejected``.

    Returns ``payload`` itself when every score is valid. The caller decides what an
    assessment with no valid score left means (an invalid event).
    """
    kept: list[CodedScore] = []
    rejected: list[Problem] = []
    for index, score in enumerate(payload.scores):
        problem = _problem(index, score)
        if problem is None:
            kept.append(score)
        else:
            rejected.append(problem)
    if not rejected:
        return payload
    return payload.without(tuple(rejected), kept)
