"""Score questionnaires: one at a time (:func:`score`) or as a numpy matrix (:func:`score_batch`).

Both paths validate against the measure's definition and then call the *same* vectorised
scorer, so a questionnaire scores identically whichever way it arrives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

from scoring import gbo, honosca, ors, rcads, sdq
from scoring.types import FloatArray, InvalidResponse, MeasureDefinition, ResponseRange, Score

MEASURES: Final[Mapping[str, MeasureDefinition]] = {
    definition.code: definition
    for definition in (
        sdq.SDQ,
        rcads.RCADS,
        rcads.RCADS25,
        honosca.HONOSCA,
        ors.ORS,
        ors.CORS,
        ors.SRS,
        ors.CSRS,
        gbo.GBO,
    )
}


def definition_of(measure: str, informant: str | None = None) -> MeasureDefinition:
    """The definition of ``measure``, checking that ``informant`` (if given) completes it."""
    definition = MEASURES.get(measure)
    if definition is None:
        raise InvalidResponse(
            f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}",
            error_code="schema.unknown_measure",
            measure=measure,
            allowed=", ".join(MEASURES),
        )
    if informant is not None and informant not in definition.informants:
        allowed = ", ".join(sorted(definition.informants))
        raise InvalidResponse(
            f"{measure} has no {informant!r} informant; expected one of {allowed}",
            error_code="schema.bad_informant",
            measure=measure,
            item="informant",
            allowed=allowed,
        )
    return definition


GRID_DECIMALS: Final = 9
"""Responses on a decimal grid (0.1 steps) are tabulated as the nearest float, as JSON ``7.3``
decodes; other spellings fall through to the explanatory check, which decides."""


@dataclass(frozen=True, slots=True)
class AcceptedResponses:
    """Every ``(item key, response)`` pair a measure × informant accepts, and its required keys.

    A questionnaire whose pairs are all here and whose keys cover the required ones is valid,
    so :func:`validate_items` answers most events with two set operations and walks the items
    one by one only to explain a rejection.
    """

    pairs: frozenset[tuple[str, float | None]]
    required: frozenset[str]

    def accepts(self, items: Mapping[str, object]) -> bool:
        if any(isinstance(value, bool) for value in items.values()):
            return False  # True == 1 would otherwise match the pair for a response of 1
        return self.pairs.issuperset(items.items()) and items.keys() >= self.required


def _grid(allowed: ResponseRange) -> set[float]:
    steps = round((allowed.high - allowed.low) / allowed.step)
    candidates = {round(allowed.low + k * allowed.step, GRID_DECIMALS) for k in range(steps + 1)}
    return {value for value in candidates | allowed.extra if allowed.accepts(value)}


@cache
def accepted_responses(measure: str, informant: str) -> AcceptedResponses:
    """The table of ``measure`` as completed by ``informant`` (both known valid)."""
    definition = MEASURES[measure]
    required = definition.required[informant]
    pairs: set[tuple[str, float | None]] = set()
    for key in definition.columns[informant]:
        pairs.update((key, value) for value in _grid(definition.responses[key]))
        if not (definition.answer_required and key in required):
            pairs.add((key, None))
    return AcceptedResponses(frozenset(pairs), required)


def validate_items(measure: str, informant: str, items: Mapping[str, object]) -> None:
    """Check a questionnaire's responses without scoring it (pure Python, cheap per event).

    Raises :class:`InvalidResponse` for an unknown measure or informant, an unknown or missing
    item key, a non-numeric, out-of-range or (where all are required) unanswered response.
    """
    definition = definition_of(measure, informant)
    if accepted_responses(measure, informant).accepts(items):
        return
    columns = definition.columns[informant]
    unknown = [key for key in items if key not in definition.responses or key not in columns]
    if unknown:
        raise InvalidResponse(
            f"{measure} ({informant}) has no item {unknown[0]!r}; "
            f"expected keys {', '.join(columns)}",
            error_code="schema.unknown_field",
            measure=measure,
            item=unknown[0],
        )
    required = definition.required[informant]
    for key in columns:
        if key not in items:
            if key in required:
                raise InvalidResponse(
                    f"{measure} ({informant}) item {key!r} is missing; every item key must be "
                    "sent (null for not answered)",
                    error_code="schema.missing_field",
                    measure=measure,
                    item=key,
                )
            continue
        value = items[key]
        allowed = definition.responses[key]
        if value is None:
            if definition.answer_required and key in required:
                raise InvalidResponse(
                    f"{measure} item {key!r} must be answered; every item is required",
                    error_code="schema.missing_field",
                    measure=measure,
                    item=key,
                    allowed=allowed.describe(),
                )
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidResponse(
                f"{measure} item {key!r} must be a number, got {value!r}",
                error_code="schema.wrong_type",
                measure=measure,
                item=key,
                allowed=allowed.describe(),
            )
        if not allowed.accepts(float(value)):
            raise InvalidResponse(
                f"{measure} item {key!r} = {value!r} is out of range; "
                f"expected {allowed.describe()}",
                error_code="schema.out_of_range",
                measure=measure,
                item=key,
                allowed=allowed.describe(),
            )


def _response_row(
    definition: MeasureDefinition, informant: str, items: Mapping[str, object]
) -> FloatArray:
    row = np.full(len(definition.columns[informant]), np.nan)
    for index, key in enumerate(definition.columns[informant]):
        value = items.get(key)
        if value is not None:
            row[index] = float(value)  # type: ignore[arg-type]
    return row


CHUNK_ROWS: Final = 8192
"""Rows scored per pass: numpy's temporaries then stay in cache (measured 2-3× faster on a
million-row matrix than one pass over it)."""


def _check_responses(definition: MeasureDefinition, informant: str, responses: FloatArray) -> None:
    """Vectorised response check; columns sharing a response range are checked as one block."""
    columns = definition.columns[informant]
    by_range: dict[ResponseRange, list[int]] = {}
    for index, key in enumerate(columns):
        by_range.setdefault(definition.responses[key], []).append(index)
    for allowed, indices in by_range.items():
        contiguous = indices == list(range(indices[0], indices[-1] + 1))
        block = responses[:, indices[0] : indices[-1] + 1] if contiguous else responses[:, indices]
        bad = allowed.invalid(block)
        if definition.answer_required:
            required = [
                definition.columns[informant][i] in definition.required[informant] for i in indices
            ]
            bad |= np.isnan(block) & np.array(required)
        if bad.any():
            row, position = np.unravel_index(int(np.argmax(bad)), bad.shape)
            key = columns[indices[position]]
            value = block[row, position]
            unanswered = bool(np.isnan(value))
            raise InvalidResponse(
                f"{definition.code} item {key!r} must be answered; every item is required"
                if unanswered
                else f"{definition.code} item {key!r} = {value:g} is out of range; "
                f"expected {allowed.describe()}",
                error_code="schema.missing_field" if unanswered else "schema.out_of_range",
                measure=definition.code,
                item=key,
                allowed=allowed.describe(),
            )


def _scalar(value: np.floating | float) -> float | None:
    return None if math.isnan(value) else float(value)


def score(
    measure: str,
    informant: str,
    items: Mapping[str, object],
    *,
    age: float | None = None,
    sex: str | None = None,
) -> Score:
    """Score one questionnaire; raises :class:`InvalidResponse` naming what is wrong."""
    (result,) = score_many(
        measure,
        informant,
        [items],
        ages=None if age is None else [age],
        sexes=None if sex is None else [sex],
    )
    return result


def score_many(
    measure: str,
    informant: str,
    answers: Sequence[Mapping[str, object]],
    *,
    ages: Sequence[float] | None = None,
    sexes: Sequence[str] | None = None,
) -> list[Score]:
    """:func:`score` for questionnaires of one measure × informant (``ages``/``sexes`` per
    questionnaire, or not known for any), scored in one vectorised pass: a derivation pass
    re-scores thousands, and one at a time numpy's per-call cost was most of the work."""
    for items in answers:
        validate_items(measure, informant, items)
    definition = MEASURES[measure]
    rows = np.array([_response_row(definition, informant, items) for items in answers])
    age_array = None if ages is None else np.asarray(ages, dtype=np.float64)
    sex_array = None if sexes is None else np.asarray(sexes, dtype=np.str_)
    batch = definition.score_batch(informant, rows, age_array, sex_array)
    scales_of = {name: values.tolist() for name, values in batch.scales.items()}
    t_scores_of = {name: values.tolist() for name, values in batch.t_scores.items()}
    results = []
    for row in range(len(answers)):
        scales = {name: _scalar(values[row]) for name, values in scales_of.items()}
        t_scores = {name: _scalar(values[row]) for name, values in t_scores_of.items()}
        reading = definition.interpret(
            informant, scales, t_scores, None if ages is None else ages[row]
        )
        results.append(
            Score(
                measure=measure,
                informant=informant,
                scales=scales,
                t_scores=t_scores,
                bands=reading.bands,
                caseness=reading.caseness,
                prorated=frozenset(name for name, mask in batch.prorated.items() if mask[row]),
                alerts=reading.alerts,
            )
        )
    return results


def score_batch(
    measure: str,
    informant: str,
    responses: NDArray[np.floating],
    *,
    ages: Sequence[float] | NDArray[np.floating] | None = None,
    sexes: Sequence[str] | NDArray[np.str_] | None = None,
) -> dict[str, FloatArray]:
    """Score an ``(n, n_items)`` matrix (NaN = not answered) in one vectorised pass.

    Columns follow ``MEASURES[measure].columns[informant]``; a matrix with only the required
    leading columns (SDQ without its impact supplement) is accepted. Returns one array per
    scale and, for T-scored measures, one per T-score under ``"<scale>_t"``.
    """
    definition = definition_of(measure, informant)
    matrix = np.asarray(responses, dtype=np.float64)
    columns = definition.columns[informant]
    n_required = sum(1 for key in columns if key in definition.required[informant])
    if matrix.ndim != 2 or matrix.shape[1] not in (len(columns), n_required):
        raise InvalidResponse(
            f"{measure} ({informant}) responses must be an (n, {len(columns)}) matrix "
            f"(or (n, {n_required}) without optional items), got shape {matrix.shape}",
            error_code="schema.wrong_type",
            measure=measure,
        )
    if matrix.shape[1] < len(columns):
        padded = np.full((matrix.shape[0], len(columns)), np.nan)
        padded[:, : matrix.shape[1]] = matrix
        matrix = padded
    age_array = None if ages is None else np.asarray(ages, dtype=np.float64)
    sex_array = None if sexes is None else np.asarray(sexes, dtype=np.str_)
    parts: list[dict[str, FloatArray]] = []
    for start in range(0, max(len(matrix), 1), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        chunk = matrix[rows]
        _check_responses(definition, informant, chunk)
        batch = definition.score_batch(
            informant,
            chunk,
            None if age_array is None else age_array[rows],
            None if sex_array is None else sex_array[rows],
        )
        part = dict(batch.scales)
        part.update({f"{name}_t": values for name, values in batch.t_scores.items()})
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
