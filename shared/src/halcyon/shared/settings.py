"""One settings base class for every service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix``
(``HALCYON_CLINICAL_``…), while the platform-wide values (Kafka, Mongo, OTLP)
are read from un-prefixed ``HALCYON_*`` variables so a launcher sets them once.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

# Values that must never reach production: refusing them at start-up beats
# discovering a shared default secret after an incident.
DEVELOPMENT_SECRET = "development-only-secret-change-me"  # noqa: S105 (refused in production)


def _platform(name: str, default: str) -> str:
    return os.environ.get(f"HALCYON_{name}", default)


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclass and set ``model_config`` env_prefix."""

    model_config = SettingsConfigDict(env_prefix="HALCYON_SERVICE_", extra="ignore")

    service_name: str = "halcyon"
    environment: Environment = Field(
        default_factory=lambda: _platform("ENVIRONMENT", "development")  # type: ignore[arg-type]
    )
    kafka_bootstrap: str = Field(
        default_factory=lambda: _platform("KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    )
    mongo_url: str = Field(
        default_factory=lambda: _platform("MONGO_URL", "mongodb://127.0.0.1:27018/")
    )
    database_name: str = ""
    # Consumer group; several instances of one service share it so partitions spread.
    consumer_group: str = ""
    # Topic names get this prefix; tests use a fresh prefix so runs never see old events.
    topic_prefix: str = Field(default_factory=lambda: _platform("TOPIC_PREFIX", ""))
    otlp_endpoint: str | None = Field(
        default_factory=lambda: os.environ.get("HALCYON_OTLP_ENDPOINT")
    )
    # Spans also written as JSON lines here (local trace viewing and cross-process tests).
    span_file: str | None = Field(default_factory=lambda: os.environ.get("HALCYON_SPAN_FILE"))
    log_level: str = Field(default_factory=lambda: _platform("LOG_LEVEL", "INFO"))
    # Token verification: the identity service's JWKS, or a PEM public key (tests, bootstrap).
    jwks_url: str | None = Field(default_factory=lambda: os.environ.get("HALCYON_JWKS_URL"))
    jwt_public_key_pem: str | None = Field(
        default_factory=lambda: os.environ.get("HALCYON_JWT_PUBLIC_KEY")
    )
    jwt_audience: str = Field(default_factory=lambda: _platform("JWT_AUDIENCE", "halcyon"))
    jwt_issuer: str = Field(default_factory=lambda: _platform("JWT_ISSUER", "halcyon-identity"))
    # Key for encrypting sensitive fields; per-tenant keys are derived from it.
    field_encryption_key: str = Field(
        default_factory=lambda: _platform("FIELD_ENCRYPTION_KEY", DEVELOPMENT_SECRET)
    )
    topic_partitions: int = Field(default_factory=lambda: int(_platform("TOPIC_PARTITIONS", "3")))
    outbox_poll_seconds: float = 0.2
    # Count each request's database commands and Kafka sends (PyMongo command
    # monitoring) and report them as response headers and span attributes; the
    # round-trip budget tests turn it on (HALCYON_COUNT_ROUND_TRIPS=1).
    count_round_trips: bool = Field(
        default_factory=lambda: _platform("COUNT_ROUND_TRIPS", "0") == "1"
    )
    # Input guard (ADR 0010): each service limits its own bodies, whoever calls it.
    max_body_bytes: int = 1_048_576
    # Routes allowed larger bodies than max_body_bytes (path -> bytes), e.g. billing's 835s.
    larger_bodies: dict[str, int] = Field(default_factory=dict)
    max_json_depth: int = 32
    max_string_chars: int = 100_000
    consumer_max_attempts: int = 5
    # How long the broker may hold a consumer's fetch when no data is waiting. aiokafka
    # leaves the partition of the record just handed out out of the next fetch, so the
    # next event on that partition (the same aggregate's, per-key ordering) waits until
    # that fetch returns: up to this long (measured: p90 402 ms at aiokafka's 500 ms, 56 ms
    # at 50 ms). Lower costs idle CPU (an idle consumer: 0.3 % of a core at 500 ms, 3.7 %
    # at 25 ms).
    consumer_fetch_max_wait_ms: int = Field(
        default_factory=lambda: int(_platform("CONSUMER_FETCH_MAX_WAIT_MS", "50"))
    )
    consumer_backoff_seconds: float = 0.2
    # Fault injection for resilience tests only: exit right after applying the event
    # whose subject equals this value, before its offset is committed.
    fault_exit_before_commit_subject: str | None = None

    @model_validator(mode="after")
    def _refuse_development_secrets_outside_development(self) -> ServiceSettings:
        if self.environment == "production" and self.field_encryption_key == DEVELOPMENT_SECRET:
            raise ValueError(
                "HALCYON_FIELD_ENCRYPTION_KEY is the development default; set a real secret "
                "before running with HALCYON_ENVIRONMENT=production"
            )
        if self.environment == "production" and self.fault_exit_before_commit_subject:
            raise ValueError("fault injection is not allowed in production")
        if not self.database_name:
            self.database_name = f"halcyon_{self.service_name}"
        if not self.consumer_group:
            self.consumer_group = f"halcyon-{self.service_name}"
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
