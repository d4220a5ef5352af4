"""Event contracts: models, topic names and keys, validation. Nothing else.

No I/O here beyond :func:`write_schemas`; the stream processors and the gateway call
:func:`parse_event` and :func:`dead_letter` and publish with :mod:`topics.registry`.
"""

from topics.deadletter import dead_letter
from topics.events import EVENT_MODELS, Event
from topics.parse import InvalidEvent, Problem, parse_event
from topics.problems import ErrorCode
from topics.records import (
    SCORING_VERSION,
    AggregateRecord,
    AlertRecord,
    DeadLetter,
    ReferralOutcomeRecord,
    ScoredAssessment,
)
from topics.registry import TOPICS, TopicSpec
from topics.schema import write_schemas

__all__ = [
    "EVENT_MODELS",
    "SCORING_VERSION",
    "TOPICS",
    "AggregateRecord",
    "AlertRecord",
    "DeadLetter",
    "ErrorCode",
    "Event",
    "InvalidEvent",
    "Problem",
    "ReferralOutcomeRecord",
    "ScoredAssessment",
    "TopicSpec",
    "dead_letter",
    "parse_event",
    "write_schemas",
]
