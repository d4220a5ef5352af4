"""parse_event raises nothing but InvalidEvent, on any bytes and on mutated valid events.

The ``parse-fuzz`` profile (10,000 examples, no deadline) is what CI runs; it is applied to
these tests explicitly, so it does not change other tests' settings.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import operator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topics import InvalidEvent, parse_event

settings.register_profile(
    "parse-fuzz",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("parse-fuzz")

NOW = datetime(2025, 1, 1, tzinfo=UTC)
GUIDE = Path(__file__).parents[2] / "docs" / "integrating.md"
EXAMPLES: list[dict[str, Any]] = [
    example
    for example in (
        json.loads(block.split("\n```", 1)[0])
        for block in GUIDE.read_text(encoding="utf-8").split("```json\n")[1:]
    )
    if "event_type" in example
]

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = LEAVES | st.lists(LEAVES, max_size=3) | st.dictionaries(st.text(max_size=8), LEAVES)


def parses_or_is_invalid(raw: bytes) -> None:
    try:
        parse_event(raw, now=NOW)
    except InvalidEvent as error:
        problems = error.problems
    else:
        return
    assert problems
    assert all(problem.error_code and problem.message for problem in problems)


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes(raw: bytes) -> None:
    parses_or_is_invalid(raw)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in ``value``, parents before children."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            paths += _paths(child, (*prefix, key))
    return paths


MUTATIONS = [(index, path) for index, example in enumerate(EXAMPLES) for path in _paths(example)]
DELETE = object()


def _mutate(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Replace (or delete) what is at ``path``, unless an earlier mutation removed it."""
    with contextlib.suppress(KeyError, IndexError, TypeError):
        parent = functools.reduce(operator.getitem, path[:-1], event)
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value


@FUZZ
@given(
    st.sampled_from(MUTATIONS),
    st.just(DELETE) | JSON_VALUES,
    st.sampled_from(MUTATIONS),
    st.just(DELETE) | JSON_VALUES,
)
def test_mutated_valid_events(
    first: tuple[int, tuple[Any, ...]],
    first_value: Any,
    second: tuple[int, tuple[Any, ...]],
    second_value: Any,
) -> None:
    """One or two locations replaced or deleted (the second only if the example has it)."""
    index, path = first
    event = copy.deepcopy(EXAMPLES[index])
    _mutate(event, path, first_value)
    _mutate(event, second[1], second_value)
    parses_or_is_invalid(json.dumps(event).encode())


@FUZZ
@given(st.sampled_from(EXAMPLES), st.integers(0, 2000), st.binary(min_size=1, max_size=4))
def test_corrupted_bytes(example: dict[str, Any], position: int, junk: bytes) -> None:
    raw = json.dumps(example).encode()
    cut = position % len(raw)
    parses_or_is_invalid(raw[:cut] + junk + raw[cut + len(junk) :])
