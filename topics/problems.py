"""What is wrong with a rejected event: stable error codes and :class:`Problem` records.

Integrators branch on ``error_code`` (events.md § Dead letters), so the codes are a contract:
add new ones, never rename or reuse one. ``field`` is a dotted path into the event
(``payload.items.7``); empty when the message as a whole is at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from topics.privacy import redact_text


class ErrorCode(StrEnum):
    """Every reason an event (or one coded score of it) can be rejected."""

    JSON_MALFORMED = "json.malformed"
    """Not UTF-8 JSON, or nested deeper than the parser allows."""
    JSON_TOO_LARGE = "json.too_large"
    """Larger than :data:`topics.parse.MAX_EVENT_BYTES`."""
    JSON_NOT_OBJECT = "json.not_object"
    """Valid JSON, but not an object."""
    MISSING_FIELD = "schema.missing_field"
    UNKNOWN_FIELD = "schema.unknown_field"
    WRONG_TYPE = "schema.wrong_type"
    """Wrong JSON type, or a string that is not a date, date-time with offset or UUID."""
    OUT_OF_RANGE = "schema.out_of_range"
    """A value outside its range, pattern or list of allowed values."""
    UNKNOWN_EVENT_TYPE = "schema.unknown_event_type"
    UNSUPPORTED_VERSION = "schema.unsupported_version"
    UNKNOWN_MEASURE = "schema.unknown_measure"
    BAD_INFORMANT = "schema.bad_informant"
    UNKNOWN_SNOMED = "schema.unknown_snomed"
    FUTURE_DATE = "schema.future_date"
    DATE_ORDER = "schema.date_order"
    NHS_NUMBER = "privacy.nhs_number"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason for rejection: a stable code, where it is, and what to do about it."""

    error_code: ErrorCode
    field: str
    message: str

    def __post_init__(self) -> None:
        # A message may quote the rejected value (a contact_id, say); wherever a problem goes
        # (dead letter, gateway answer, log) it must never carry an NHS number.
        object.__setattr__(self, "message", redact_text(self.message))


class InvalidEvent(ValueError):
    """Raised by :func:`topics.parse_event` and nothing else; ``problems`` is never empty."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = problems
