"""Published schemas, the integrator guide's examples, the registry and the response table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import MEASURES, InvalidResponse, validate_items
from scoring.gbo import INFORMANTS as GBO_INFORMANTS
from scoring.scorer import accepted_responses
from topics import EVENT_MODELS, TOPICS, parse_event, write_schemas
from topics.events import GoalInformant, Measure
from topics.registry import AGGREGATES, EVENTS, OUTCOMES
from topics.schema import EVENTS_FILE, event_schema_file, record_schema_file

GUIDE = Path(__file__).parents[2] / "docs" / "integrating.md"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def guide_examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)\n```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    return [json.loads(block) for block in blocks]


@pytest.fixture(scope="module")
def schema_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schemas")
    write_schemas(out)
    return out


def load(schema_dir: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((schema_dir / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def test_a_schema_per_event_type_and_record(schema_dir: Path) -> None:
    expected = {EVENTS_FILE} | {event_schema_file(t) for t in EVENT_MODELS}
    expected |= {record_schema_file(r) for r in ("scored", "outcome", "aggregate", "alert")}
    expected |= {record_schema_file("deadletter")}
    assert {path.name for path in schema_dir.iterdir()} == expected


def test_guide_has_one_example_of_every_event_type() -> None:
    types = [example["event_type"] for example in guide_examples() if "event_type" in example]
    assert sorted(types) == sorted(EVENT_MODELS)


@pytest.mark.parametrize("example", guide_examples(), ids=lambda e: e.get("event_type", "dead"))
def test_guide_examples_parse_and_match_the_schemas(
    example: dict[str, Any], schema_dir: Path
) -> None:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    if "event_type" not in example:
        schema = load(schema_dir, record_schema_file("deadletter"))
        jsonschema.validate(example, schema, format_checker=checker)
        return
    parsed = parse_event(json.dumps(example).encode(), now=NOW)
    assert parsed.event_type == example["event_type"]
    for name in (EVENTS_FILE, event_schema_file(example["event_type"])):
        jsonschema.validate(example, load(schema_dir, name), format_checker=checker)


def test_schema_rejects_unknown_fields(schema_dir: Path) -> None:
    example = next(e for e in guide_examples() if e.get("event_type") == "contact.recorded")
    example["payload"]["note"] = "free text"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example, load(schema_dir, EVENTS_FILE))


def test_rejected_scores_are_not_part_of_the_contract(schema_dir: Path) -> None:
    schema = load(schema_dir, event_schema_file("assessment.scored"))
    payload = schema["$defs"]["AssessmentScoredPayload"]
    assert set(payload["properties"]) == {"assessment_id", "completed_on", "scores"}


def test_contract_enumerations_match_the_scoring_library() -> None:
    assert set(get_args(Measure)) == set(MEASURES) - {"GBO"}
    assert set(get_args(GoalInformant)) == GBO_INFORMANTS


def test_registry() -> None:
    assert set(TOPICS) == {
        "roms.events.v1",
        "roms.scored.v1",
        "roms.outcomes.v1",
        "roms.aggregates.v1",
        "roms.alerts.v1",
        "roms.deadletter.v1",
    }
    compacted = {name for name, spec in TOPICS.items() if spec.cleanup_policy == "compact"}
    assert compacted == {OUTCOMES.name, AGGREGATES.name}
    assert OUTCOMES.config == {"cleanup.policy": "compact"}
    example = next(e for e in guide_examples() if e.get("event_type") == "referral.opened")
    assert EVENTS.key(parse_event(json.dumps(example).encode(), now=NOW)) == b"ref-7f3a9c21"


RESPONSES = st.one_of(
    st.none(), st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, 9.0, 5.0, 10.0, 7.3, -1.0, 0.5])
)
QUESTIONNAIRES = st.sampled_from(
    [(measure, informant) for measure, d in MEASURES.items() for informant in sorted(d.informants)]
)


@given(QUESTIONNAIRES, st.data())
def test_fast_table_accepts_only_what_validate_items_accepts(
    questionnaire: tuple[str, str], data: st.DataObject
) -> None:
    measure, informant = questionnaire
    keys = list(MEASURES[measure].columns[informant])
    chosen = data.draw(st.lists(st.sampled_from([*keys, "99"]), unique=True))
    items = {key: data.draw(RESPONSES) for key in chosen}
    if accepted_responses(measure, informant).accepts(items):
        validate_items(measure, informant, items)  # must not raise


@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_fast_table_accepts_a_complete_questionnaire(measure: str) -> None:
    definition = MEASURES[measure]
    informant = sorted(definition.informants)[0]
    items = {key: definition.responses[key].high for key in definition.columns[informant]}
    validate_items(measure, informant, items)
    assert accepted_responses(measure, informant).accepts(items)
    items[next(iter(items))] = definition.responses[next(iter(items))].high + 1
    assert not accepted_responses(measure, informant).accepts(items)
    with pytest.raises(InvalidResponse):
        validate_items(measure, informant, items)
