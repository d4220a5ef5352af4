"""``parse_event``: raw bytes to a valid :data:`~topics.events.Event`, or :class:`InvalidEvent`.

One pass of pydantic's JSON validator (Rust: decodes and validates at once, measured faster
than ``orjson.loads`` + ``validate_python``, ``benchmarks/parse.py``), then the rules of
events.md a JSON Schema cannot state:
- item responses of ``questionnaire.completed``: ``scoring.validate_items``, the one source
  of item keys and ranges (unknown key, missing key, out-of-range or unanswered-but-required
  response, informant the measure does not have);
- coded scores of ``assessment.scored``: :func:`topics.snomed.screen_scores`; the event
  stands with the valid ones and is invalid only when none is left;
- clock: a date or date-time more than :data:`CLOCK_SKEW` after *now* is
  ``schema.future_date`` (payload dates against the UTC date of now + skew);
- order within one event (``schema.date_order``): nothing can happen after it was sent, so
  ``occurred_at`` and every payload date must not be after ``emitted_at`` by more than the
  same skew (payload dates against ``emitted_at``'s own calendar date). ``closed_on`` not
  before ``received_on`` spans two events and is enforced by the pipeline, which has both.
Every failure is an :class:`InvalidEvent`; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Final

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from scoring import InvalidResponse, validate_items
from topics.events import (
    EVENT_MODELS,
    AssessmentScored,
    Event,
    QuestionnaireCompleted,
    QuestionnaireCompletedPayload,
)
from topics.problems import ErrorCode, InvalidEvent, Problem
from topics.snomed import screen_scores

__all__ = ["CLOCK_SKEW", "MAX_EVENT_BYTES", "InvalidEvent", "Problem", "parse_event"]

MAX_EVENT_BYTES: Final = 1024 * 1024
"""P: 1 MiB, Kafka's default maximum message size; the largest real event is a few kB."""
CLOCK_SKEW: Final = timedelta(days=1)
"""events.md: a date in the future beyond one day of clock skew makes the event invalid."""

EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(Event)

_WITHDRAWN_KINDS: Final = frozenset({"assessment", "goal_rating"})
_NOT_ECHOED: Final = frozenset({"referral_id", "patient_id"})
_LOCAL_ID: Final = "1-64 characters of A-Z a-z 0-9 _ -"
_EXPECTED: Final[dict[str, str]] = {
    "provider_code": "an ODS code of 3 or 5 upper-case letters or digits, e.g. RYG or RYG01",
    "ccg_code": "an ODS commissioner code of 3 or 5 upper-case letters or digits, e.g. 05A",
    "referral_id": "8-64 characters of A-Z a-z 0-9 _ -",
    "patient_id": "8-64 characters of A-Z a-z 0-9 _ -",
    "snomed": "a SNOMED CT concept id (6-18 digits)",
    **dict.fromkeys(("contact_id", "assessment_id", "goal_id", "team_code", "target"), _LOCAL_ID),
}
_LITERAL_CODES: Final[dict[str, ErrorCode]] = {
    "schema_version": ErrorCode.UNSUPPORTED_VERSION,
    "payload.measure": ErrorCode.UNKNOWN_MEASURE,
    "payload.informant": ErrorCode.BAD_INFORMANT,
}
_TYPE_CODES: Final[dict[str, ErrorCode]] = {
    "missing": ErrorCode.MISSING_FIELD,
    "union_tag_not_found": ErrorCode.MISSING_FIELD,
    "extra_forbidden": ErrorCode.UNKNOWN_FIELD,
    "nhs_number": ErrorCode.NHS_NUMBER,
    "json_invalid": ErrorCode.JSON_MALFORMED,
    "timezone_aware": ErrorCode.WRONG_TYPE,
}
_RESPONSE_FIELDS: Final[dict[str, str]] = {
    "schema.unknown_measure": "payload.measure",
    "schema.bad_informant": "payload.informant",
}


def _path(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    """The location as the sender wrote it: without the union tags pydantic inserts."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in EVENT_MODELS:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "payload" and parts[1] in _WITHDRAWN_KINDS:
        del parts[1]
    return tuple(parts)


def _error_code(kind: str, path: tuple[str, ...], field: str) -> ErrorCode:
    if kind in _TYPE_CODES:
        return _TYPE_CODES[kind]
    if kind == "union_tag_invalid":
        return ErrorCode.UNKNOWN_EVENT_TYPE if field == "event_type" else ErrorCode.OUT_OF_RANGE
    if kind == "literal_error":
        return _LITERAL_CODES.get(field, ErrorCode.OUT_OF_RANGE)
    if kind in ("model_type", "model_attributes_type", "dict_type") and not path:
        return ErrorCode.JSON_NOT_OBJECT
    if kind.endswith(("_type", "_parsing")) or kind.startswith("uuid"):
        return ErrorCode.WRONG_TYPE
    return ErrorCode.OUT_OF_RANGE


def _message(error: ErrorDetails, path: tuple[str, ...], field: str) -> str:
    kind = error["type"]
    where = field or "event"
    if kind in ("missing", "union_tag_not_found"):
        return f"{where}: required field is missing"
    if kind == "union_tag_invalid":
        context = error.get("ctx", {})
        return f"{where}: {context.get('tag')!r} is not one of {context.get('expected_tags')}"
    if kind == "extra_forbidden":
        return f"{where}: unknown field; contract version 1 does not have it"
    if kind == "json_invalid":
        return f"not a UTF-8 JSON document: {error['msg']}"
    name = path[-1] if path else ""
    expected = _EXPECTED.get(name)
    text = f"expected {expected}" if expected and kind.startswith("string") else error["msg"]
    value = error.get("input")
    if name not in _NOT_ECHOED and kind != "nhs_number" and isinstance(value, str | int | float):
        text += f" (got {str(value)[:40]!r})"
    return f"{where}: {text}"


def _validation_problems(error: ValidationError) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        path = _path(detail["loc"])
        kind = detail["type"]
        if kind.startswith("union_tag"):
            discriminator = str(detail.get("ctx", {}).get("discriminator", "")).strip("'")
            path = (*path, discriminator)
        field = ".".join(path)
        problems.append(
            Problem(_error_code(kind, path, field), field, _message(detail, path, field))
        )
    problems.sort(key=lambda problem: problem.error_code != ErrorCode.NHS_NUMBER)
    return problems


@cache
def _date_fields(payload_type: type[BaseModel]) -> tuple[str, ...]:
    return tuple(
        name for name, info in payload_type.model_fields.items() if info.annotation is date
    )


def _future(field: str, moment: str, latest: str) -> Problem:
    return Problem(
        ErrorCode.FUTURE_DATE,
        field,
        f"{field}: {moment} is in the future; expected no later than {latest} "
        f"(now + {CLOCK_SKEW.days} day of clock skew)",
    )


def _clock_problems(event: Event, now: datetime) -> Iterator[Problem]:
    """Future and order checks. Aware date-times are compared as POSIX timestamps: each
    comparison of two aware values would otherwise ask both for their offset again."""
    latest = now + CLOCK_SKEW
    latest_at = latest.timestamp()
    occurred_at = event.occurred_at.timestamp()
    emitted_at = event.emitted_at.timestamp()
    if occurred_at > latest_at:
        yield _future("occurred_at", event.occurred_at.isoformat(), latest.isoformat())
    if emitted_at > latest_at:
        yield _future("emitted_at", event.emitted_at.isoformat(), latest.isoformat())
    elif occurred_at > emitted_at + CLOCK_SKEW.total_seconds():
        yield Problem(
            ErrorCode.DATE_ORDER,
            "occurred_at",
            f"occurred_at: {event.occurred_at.isoformat()} is after emitted_at "
            f"{event.emitted_at.isoformat()} by more than {CLOCK_SKEW.days} day; "
            "an event cannot happen after it was sent",
        )
    latest_day = latest.date()
    latest_sent_day = (event.emitted_at + CLOCK_SKEW).date()
    payload = event.payload
    for name in _date_fields(type(payload)):
        day: date = getattr(payload, name)
        field = f"payload.{name}"
        if day > latest_day:
            yield _future(field, day.isoformat(), latest_day.isoformat())
        elif day > latest_sent_day:
            yield Problem(
                ErrorCode.DATE_ORDER,
                field,
                f"{field}: {day.isoformat()} is after emitted_at "
                f"{event.emitted_at.isoformat()}; expected a date no later than "
                f"{latest_sent_day.isoformat()}",
            )


def _response_problem(error: InvalidResponse) -> Problem:
    field = _RESPONSE_FIELDS.get(error.error_code, f"payload.items.{error.item}")
    try:
        code = ErrorCode(error.error_code)
    except ValueError:
        code = ErrorCode.OUT_OF_RANGE
    return Problem(code, field, f"{field}: {error}")


def _items_problem(payload: QuestionnaireCompletedPayload) -> Problem | None:
    """``validate_items``' verdict on the questionnaire's items (``None`` when valid)."""
    try:
        validate_items(payload.measure, payload.informant, payload.items)
    except InvalidResponse as error:
        return _response_problem(error)
    return None


def parse_event(raw: bytes, *, now: datetime | None = None) -> Event:
    """Decode and validate one event; raise :class:`InvalidEvent` listing every problem found.

    ``now`` (default: the current time) is what "in the future" is measured against. For
    ``assessment.scored`` the returned event holds only the valid scores; the left-out ones
    are in ``event.payload.rejected`` for the dead-letter topic.
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(
            [
                Problem(
                    ErrorCode.JSON_TOO_LARGE,
                    "",
                    f"event is {len(raw)} bytes; expected at most {MAX_EVENT_BYTES} (1 MiB)",
                )
            ]
        )
    try:
        event = EVENT_ADAPTER.validate_json(raw)
    except ValidationError as error:
        raise InvalidEvent(_validation_problems(error)) from None
    problems = list(_clock_problems(event, now or datetime.now(UTC)))
    if isinstance(event, QuestionnaireCompleted):
        problem = _items_problem(event.payload)
        if problem is not None:
            problems.append(problem)
    elif isinstance(event, AssessmentScored):
        screened = screen_scores(event.payload)
        if not screened.scores:
            problems.extend(screened.rejected)
        elif screened is not event.payload:
            event = event.model_copy(update={"payload": screened})
    if problems:
        raise InvalidEvent(problems)
    return event
