"""Process settings, read from environment variables (no prefix) by pydantic-settings.

The broker timings follow ``STREAMING.md``: Tansu holds every JoinGroup until half the
client's session timeout has passed, so a short session timeout is what makes workers
join in seconds; the request timeout must outlast that hold; a short commit interval
shrinks the window of events re-processed after a rebalance.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Every setting of the ``outcomes`` processes; each field is one environment variable."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, `host:port[,host:port…]`. Unset: `outcomes demo` "
        "starts the embedded Tansu broker; `outcomes run` and `ingest` require it.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN, `postgresql://user:password@host:port/database`. Unset: "
        "`outcomes demo` starts an embedded PostgreSQL; `run`, `api` and `db` require it.",
    )
    consumer_group: str = Field(
        default="roms-outcomes",
        description="Kafka consumer group shared by every worker replica.",
    )
    broker_session_timeout: float = Field(
        default=6.0,
        gt=0,
        description="Consumer session timeout, seconds. Tansu delays each group join by half "
        "of it, so 6 s gives joins of ~3-5 s (tests use 2-4 s).",
    )
    broker_heartbeat_interval: float = Field(
        default=1.0,
        gt=0,
        description="Consumer heartbeat interval, seconds; well below the session timeout.",
    )
    broker_rebalance_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Time a rebalance may take before slow members are dropped, seconds.",
    )
    broker_request_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Kafka request timeout, seconds; must exceed half the session timeout.",
    )
    batch_size: int = Field(
        default=5000,
        ge=1,
        description="Most events a worker takes from the stream per database transaction.",
    )
    batch_wait: float = Field(
        default=0.5,
        gt=0,
        description="Longest a worker waits to fill a batch before processing it, seconds.",
    )
    derivation_batch: int = Field(
        default=5000,
        ge=1,
        description="Most pending referrals one derivation pass folds in one transaction: "
        "larger passes share more aggregate writes, smaller ones hold locks for less time.",
    )
    derivers: int = Field(
        default=2,
        ge=1,
        le=8,
        description="Derivation passes one worker runs side by side: while one waits for "
        "PostgreSQL another computes; they claim different referrals.",
    )
    derivation_gather: float = Field(
        default=5.0,
        ge=0,
        description="Longest a worker lets pending referrals gather after a pass, seconds: it "
        "waits as long as the pass took, up to this (0: passes back to back). Bigger passes "
        "share aggregate keys, so under load they fold more referrals per second.",
    )
    topic_namespace: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Prefix of every topic name (e.g. `staging.`); empty in production. Lets "
        "tests and tenants share one broker.",
    )
    log_level: LogLevel = Field(default="INFO", description="Log level of every process.")
    api_host: str = Field(
        default="127.0.0.1",
        description="Address the HTTP API binds; set 0.0.0.0 only inside a container.",
    )
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port the HTTP API binds.")
    gateway_rate: float = Field(
        default=10.0,
        gt=0,
        description="Requests per second each token may send to `POST /v1/events` on average "
        "(an array of up to 1,000 events is one request); beyond it 429 with Retry-After.",
    )
    gateway_burst: int = Field(
        default=20,
        ge=1,
        description="Requests a token may send to `POST /v1/events` at once before "
        "`GATEWAY_RATE` applies (the size of its token bucket).",
    )
    alert_min_n: int = Field(
        default=10,
        ge=1,
        description="Fewest paired referrals a unit needs before it can alert (outcomes.md §6).",
    )
    alert_overdispersion: bool = Field(
        default=False,
        description="Widen the funnel limits by the over-dispersion factor φ estimated from "
        "the units compared (Spiegelhalter 2005).",
    )
    webhook_max_attempts: int = Field(
        default=6,
        ge=1,
        description="Attempts per webhook delivery before it is marked failed.",
    )
    webhook_base_delay: float = Field(
        default=2.0,
        gt=0,
        description="Seconds before the first webhook retry; doubled, with jitter, each time.",
    )
    webhook_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to connect to, and read from, a webhook receiver."
    )
    webhook_poll_interval: float = Field(
        default=1.0, gt=0, description="How often a worker looks for due webhook deliveries, s."
    )
    aggregate_publish_interval: float = Field(
        default=30.0,
        gt=0,
        description="How often a worker publishes the aggregates derivation moved, seconds: a "
        "key moved by several passes in between is published once, with its newest figures.",
    )

    @model_validator(mode="after")
    def _timeouts_are_coherent(self) -> Self:
        if self.broker_heartbeat_interval >= self.broker_session_timeout:
            raise ValueError("BROKER_HEARTBEAT_INTERVAL must be below BROKER_SESSION_TIMEOUT")
        if self.broker_request_timeout <= self.broker_session_timeout / 2:
            raise ValueError("BROKER_REQUEST_TIMEOUT must exceed half BROKER_SESSION_TIMEOUT")
        return self
