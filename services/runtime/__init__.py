"""The embedded runtime: Tansu broker, PostgreSQL, topic creation, process supervision."""

from services.runtime.broker import EmbeddedBroker, answers_api_versions
from services.runtime.postgres import EmbeddedPostgres, create_database, drop_database
from services.runtime.process import ProcessStartError, SupervisedProcess, free_port
from services.runtime.stack import StackEndpoints, embedded_stack
from services.runtime.topics import create_topics

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPostgres",
    "ProcessStartError",
    "StackEndpoints",
    "SupervisedProcess",
    "answers_api_versions",
    "create_database",
    "create_topics",
    "drop_database",
    "embedded_stack",
    "free_port",
]
