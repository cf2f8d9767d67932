"""Cross-service fixtures (loaded for every suite by the root conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from halcyon.shared.testing.processes import ServiceProcess
from halcyon.shared.testing.servers import Servers, repo_root
from halcyon.shared.testing.tokens import TestTokenIssuer

StartService = Callable[..., ServiceProcess]


@pytest.fixture
def start_service(
    servers: Servers, token_issuer: TestTokenIssuer, topic_prefix: str, tmp_path: Path, unique: str
) -> Iterator[StartService]:
    """Start a service as its own process on a fresh topic prefix and database."""
    started: list[ServiceProcess] = []

    def start(
        service: str, *, app: str | None = None, wait: bool = True, **env: str
    ) -> ServiceProcess:
        upper = service.upper()
        base = {
            "HALCYON_ENVIRONMENT": "test",
            "HALCYON_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
            "HALCYON_MONGO_URL": servers.mongo_url,
            "HALCYON_TOPIC_PREFIX": topic_prefix,
            "HALCYON_JWT_PUBLIC_KEY": token_issuer.public_pem,
            "HALCYON_SPAN_FILE": str(tmp_path / "spans.jsonl"),
            "HALCYON_LOG_LEVEL": "INFO",
            f"HALCYON_{upper}_DATABASE_NAME": f"t_{unique}_{service}",
            # Its own consumer group: other runs on a shared broker never rebalance it
            # (instances of one service in this test still share it).
            f"HALCYON_{upper}_CONSUMER_GROUP": f"halcyon-{service}-{unique}",
            "PYTHONPATH": str(repo_root()),
        }
        process = ServiceProcess(service, {**base, **env}, tmp_path, app=app).start()
        started.append(process)
        if wait:
            process.wait_ready()
        return process

    yield start
    for process in started:
        process.kill()
