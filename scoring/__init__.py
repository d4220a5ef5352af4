"""Pure scoring of children and young people's routine outcome measures.

No I/O, no asyncio, no Kafka: every function here is a deterministic function of its
arguments, so the stream processors, the batch recomputation and the tests share one truth.
"""

from scoring.change import jacobson_truax_threshold, reliable_change
from scoring.pairing import referral_outcome
from scoring.scorer import (
    MEASURES,
    definition_of,
    score,
    score_batch,
    score_many,
    validate_items,
)
from scoring.types import (
    SCORING_VERSION,
    Change,
    InvalidResponse,
    MeasureDefinition,
    ResponseRange,
    Score,
)

__all__ = [
    "MEASURES",
    "SCORING_VERSION",
    "Change",
    "InvalidResponse",
    "MeasureDefinition",
    "ResponseRange",
    "Score",
    "definition_of",
    "jacobson_truax_threshold",
    "referral_outcome",
    "reliable_change",
    "score",
    "score_batch",
    "score_many",
    "validate_items",
]
