"""Real Kafka and a real MongoDB-wire server for tests.

Order of preference: ``HALCYON_KAFKA_BOOTSTRAP`` / ``HALCYON_MONGO_URL`` from the
environment; else testcontainers when a Docker engine answers; else the
project's own launcher ``deploy/local/servers.sh`` (Kafka 4 in KRaft mode from
Maven Central jars, FerretDB built from its Go module).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap: str
    mongo_url: str
    started_by: str
    launcher: Path | None = None
    # The SASL/SCRAM listener partners use (None where the broker has none).
    partner_bootstrap: str | None = None


def repo_root() -> Path:
    env = os.environ.get("HALCYON_REPO_ROOT")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for candidate in [here, *here.parents]:
        if (candidate / "deploy" / "local" / "servers.sh").exists():
            return candidate
    raise RuntimeError("cannot find the Halcyon repository root (deploy/local/servers.sh)")


def launcher() -> Path:
    return repo_root() / "deploy" / "local" / "servers.sh"


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_containers: list[Any] = []


def ensure_servers() -> Servers:
    kafka = os.environ.get("HALCYON_KAFKA_BOOTSTRAP")
    mongo = os.environ.get("HALCYON_MONGO_URL")
    if kafka and mongo:
        return Servers(
            kafka, mongo, "environment", None, os.environ.get("HALCYON_KAFKA_PARTNER_BOOTSTRAP")
        )
    if _docker_available() and os.environ.get("HALCYON_USE_TESTCONTAINERS", "1") == "1":
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mongodb import MongoDbContainer

        kafka_c = KafkaContainer("apache/kafka:4.1.0").with_kraft()
        mongo_c = MongoDbContainer("mongo:7")
        kafka_c.start()
        mongo_c.start()
        _containers.extend([kafka_c, mongo_c])
        servers = Servers(
            kafka_c.get_bootstrap_server(), mongo_c.get_connection_url(), "testcontainers"
        )
    else:
        script = launcher()
        result = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                "could not start the local Kafka/FerretDB servers:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        env = subprocess.run(
            ["bash", str(script), "env"], capture_output=True, text=True, check=True
        )
        values = dict(
            line.removeprefix("export ").split("=", 1)
            for line in env.stdout.splitlines()
            if line.startswith("export ")
        )
        servers = Servers(
            values["HALCYON_KAFKA_BOOTSTRAP"],
            values["HALCYON_MONGO_URL"],
            "deploy/local",
            script,
            values.get("HALCYON_KAFKA_PARTNER_BOOTSTRAP"),
        )
        if servers.partner_bootstrap:
            os.environ["HALCYON_KAFKA_PARTNER_BOOTSTRAP"] = servers.partner_bootstrap
    os.environ["HALCYON_KAFKA_BOOTSTRAP"] = servers.kafka_bootstrap
    os.environ["HALCYON_MONGO_URL"] = servers.mongo_url
    return servers


def stop_containers() -> None:
    while _containers:
        _containers.pop().stop()
