"""docker-compose.yml parses, has the stack issue 4 asks for, and speaks Settings' language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.settings import Settings

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def outcomes_command(service: dict[str, Any]) -> list[str]:
    """The ``outcomes`` arguments a service runs (the image's entrypoint is ``outcomes``)."""
    return [str(argument) for argument in service.get("command", [])]


def environment(service: dict[str, Any]) -> dict[str, str]:
    variables = service.get("environment", {})
    if isinstance(variables, list):  # the "NAME=value" form
        return dict(item.split("=", 1) for item in variables)
    return {name: str(value) for name, value in variables.items()}


def outcomes_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if "build" in s}


def test_stack_has_kafka_kraft_postgres_migrations_two_workers_and_api(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert environment(kafka)["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["postgres"]["image"].startswith("postgres:16")
    assert outcomes_command(services["migrate"]) == ["db", "upgrade"]
    assert outcomes_command(services["worker"]) == ["run"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert outcomes_command(services["api"]) == ["api"]
    migrated = {"condition": "service_completed_successfully"}
    assert services["worker"]["depends_on"]["migrate"] == migrated
    assert services["api"]["depends_on"]["migrate"] == migrated


def test_every_variable_set_for_outcomes_is_a_setting(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in outcomes_services(services).items():
        unknown = set(environment(service)) - SETTINGS_VARIABLES
        assert not unknown, f"{name} sets variables Settings does not know: {unknown}"


def test_each_outcomes_service_environment_is_a_valid_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in SETTINGS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for service in outcomes_services(services).values():
        with monkeypatch.context() as patched:
            for variable, value in environment(service).items():
                patched.setenv(variable, value)
            settings = Settings()
        assert settings.database_url == "postgresql://roms:roms@postgres:5432/roms"


def test_workers_reach_kafka_by_its_advertised_listener(
    services: dict[str, dict[str, Any]],
) -> None:
    advertised = environment(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert advertised == "PLAINTEXT://" + environment(services["worker"])["KAFKA_BOOTSTRAP_SERVERS"]


def test_api_is_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
