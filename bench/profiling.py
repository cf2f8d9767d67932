"""One service started alone, optionally under pyinstrument, for the profile_* scripts."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path

from halcyon.shared.testing.processes import ServiceProcess
from halcyon.shared.testing.servers import Servers, repo_root
from halcyon.shared.testing.tokens import TestTokenIssuer


def start_profiled(
    service: str,
    servers: Servers,
    issuer: TestTokenIssuer,
    unique: str,
    profile: Path | None,
) -> ServiceProcess:
    """``service`` on its own database (``prof_<unique>_<service>``) and topic prefix,
    under pyinstrument writing ``profile`` (None: no profiler), ready to take requests."""
    profiler = ("-m", "pyinstrument", "-r", "text", "-o", str(profile)) if profile else ()
    env = {
        "HALCYON_ENVIRONMENT": "test",
        "HALCYON_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "HALCYON_MONGO_URL": servers.mongo_url,
        "HALCYON_TOPIC_PREFIX": f"p{unique}.",
        "HALCYON_JWT_PUBLIC_KEY": issuer.public_pem,
        "HALCYON_LOG_LEVEL": "WARNING",
        f"HALCYON_{service.upper()}_DATABASE_NAME": f"prof_{unique}_{service}",
        "HALCYON_SPAN_FILE": "",
        "PYTHONPATH": str(repo_root()),
    }
    process = ServiceProcess(
        service, env, Path(tempfile.mkdtemp()), interpreter_args=profiler
    ).start()
    return process.wait_ready(timeout=120)


def stop_profiled(process: ServiceProcess) -> None:
    """SIGINT, so uvicorn shuts down cleanly and pyinstrument writes its profile."""
    if process.proc is not None and process.proc.poll() is None:
        process.proc.send_signal(signal.SIGINT)
        process.proc.wait(timeout=60)
