"""The whole platform as separate processes, driven through the gateway with real tokens.

Every service and the gateway run as their own uvicorn process on the real Kafka and
FerretDB, on one fresh topic prefix, each with its own database, all writing spans to
one file. Services verify tokens against identity's JWKS, exactly as in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
from halcyon.shared.second_factor import SECOND_FACTOR_ROLES
from halcyon.shared.settings import DEVELOPMENT_SECRET
from halcyon.shared.testing.processes import ServiceProcess, free_port
from halcyon.shared.testing.servers import Servers, repo_root

PASSWORD = "correct horse battery staple"
OPERATOR = {"X-Platform-Operator-Secret": DEVELOPMENT_SECRET}
MFA_ROLES = SECOND_FACTOR_ROLES  # every role (ADR 0103)
SERVICES = ("identity", "clinical", "scheduling", "inventory", "billing", "notifications")


@dataclass
class Platform:
    servers: Servers
    run_dir: Path
    prefix: str = field(default_factory=lambda: f"e{uuid.uuid4().hex[:10]}.")
    unique: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    smtp_port: int = field(default_factory=free_port)

    @property
    def span_file(self) -> Path:
        return self.run_dir / "spans.jsonl"

    def database(self, service: str) -> str:
        return f"e_{self.unique}_{service}"

    @property
    def gateway(self) -> ServiceProcess:
        return self.processes["gateway"]

    @property
    def sink(self) -> ServiceProcess:
        return self.processes["devsmtp"]

    def _env(self, service: str) -> dict[str, str]:
        env = {
            "HALCYON_ENVIRONMENT": "test",
            "HALCYON_KAFKA_BOOTSTRAP": self.servers.kafka_bootstrap,
            "HALCYON_MONGO_URL": self.servers.mongo_url,
            "HALCYON_TOPIC_PREFIX": self.prefix,
            "HALCYON_SPAN_FILE": str(self.span_file),
            "HALCYON_LOG_LEVEL": "INFO",
            "HALCYON_TOPIC_PARTITIONS": "1",
            # Each request in a fresh context. Without it, asyncio (CPython #140947) lets a
            # request that arrives while the previous one on a keep-alive connection is
            # finishing start inside that request's context: OpenTelemetry then records it,
            # and every later request on the connection, as children of that old request
            # (uvicorn #2167; uvicorn 0.54 --reset-contextvars). Seen here as one "trace"
            # swallowing the rest of the journey.
            "UVICORN_RESET_CONTEXTVARS": "true",
            f"HALCYON_{service.upper()}_DATABASE_NAME": self.database(service),
            # A consumer group of this platform's own: the default (halcyon-<service>) is
            # joined by every other run on a shared broker, and each of their starts and
            # stops would rebalance ours. Stable across a restart, so offsets carry over.
            f"HALCYON_{service.upper()}_CONSUMER_GROUP": f"{self.prefix}{service}",
            "PYTHONPATH": os.pathsep.join(
                p for p in (os.environ.get("PYTHONPATH"), str(repo_root())) if p
            ),
        }
        if service != "identity":
            env["HALCYON_JWT_PUBLIC_KEY"] = ""
            env["HALCYON_JWKS_URL"] = f"{self.processes['identity'].url}/.well-known/jwks.json"
        return env

    def _spawn(self, service: str, app: str | None = None, **env: str) -> ServiceProcess:
        process = ServiceProcess(service, {**self._env(service), **env}, self.run_dir, app=app)
        self.processes[service] = process
        return process.start()

    def start(self, services: tuple[str, ...] = SERVICES) -> Platform:
        """Identity first (the others verify tokens with its JWKS), then the rest, then the
        gateway naming every started service as an upstream."""
        wanted = ["identity", *(s for s in SERVICES if s in services and s != "identity")]
        self._spawn("identity", HALCYON_IDENTITY_CREDENTIAL_SCAN_INTERVAL_SECONDS="3600")
        if "notifications" in wanted:
            self._spawn(
                "devsmtp",
                app="halcyon.notifications.devsmtp:app",
                HALCYON_DEVSMTP_SMTP_PORT=str(self.smtp_port),
            )
        self.processes["identity"].wait_ready(timeout=180)
        for service in wanted[1:]:
            extra: dict[str, str] = {}
            if service == "notifications":
                extra = {
                    "HALCYON_NOTIFICATIONS_SMTP_PORT": str(self.smtp_port),
                    "HALCYON_NOTIFICATIONS_WORKER_POLL_SECONDS": "0.3",
                }
            self._spawn(service, **extra)
        for name, process in self.processes.items():
            if name != "identity":
                process.wait_ready(timeout=180)
        upstreams = {s: self.processes[s].url for s in wanted}
        self._spawn(
            "gateway",
            HALCYON_GATEWAY_UPSTREAMS=json.dumps(upstreams),
            # One test user polls more than a person clicks.
            HALCYON_GATEWAY_USER_RATE_LIMIT=json.dumps({"per_minute": 6000, "burst": 600}),
            HALCYON_GATEWAY_ADDRESS_RATE_LIMIT=json.dumps({"per_minute": 12000, "burst": 1200}),
            # Every journey signs in its whole staff from one address (the default, 30 at
            # once, is for password guessing; the gateway's own tests keep it).
            HALCYON_GATEWAY_PUBLIC_RATE_LIMIT=json.dumps({"per_minute": 6000, "burst": 600}),
            # Two shared cores under load: an upstream's /readyz can take seconds.
            HALCYON_GATEWAY_READINESS_TIMEOUT_SECONDS="10",
            # A fault drill takes an upstream down on purpose; the entry stays ready.
            HALCYON_GATEWAY_REQUIRED_UPSTREAMS=json.dumps(["identity"]),
        )
        self.gateway.wait_ready(timeout=180)
        return self

    def restart(self, service: str) -> ServiceProcess:
        process = self.processes[service]
        process.start()
        return process.wait_ready(timeout=180)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.kill()


def run_dir(factory: Any, name: str) -> Path:
    """Logs and spans of one platform. HALCYON_E2E_KEEP=<dir> keeps them after the run
    (pytest rotates its own temporary directories away)."""
    keep = os.environ.get("HALCYON_E2E_KEEP")
    if keep:
        path = Path(keep) / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        return path
    return Path(factory.mktemp(f"e2e-{name}"))


# -- people ---------------------------------------------------------------------------


@dataclass
class Person:
    id: str
    email: str
    role: str
    agency_id: str
    totp_secret: str | None = None
    access_token: str = ""
    # Codes this person already gave: identity refuses a code twice (replay), and any
    # code of a step not later than the last one used.
    used_otps: set[str] = field(default_factory=set)
    last_step: int = -1

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def otp_now(secret: str) -> str:
    # One step ahead: inside the accepted drift, and never the step enrolment just used.
    return pyotp.TOTP(secret).at(time.time() + 30)


async def fresh_otp(person: Person) -> str:
    """A code inside identity's accepted drift (one step either side) of a step later than
    any this person gave; waits for the next step when both are spent (a third sign-in
    within 30 s)."""
    assert person.totp_secret is not None
    totp = pyotp.TOTP(person.totp_secret)
    while True:
        now = time.time()
        for step in (int(now // 30), int(now // 30) + 1):
            code = totp.at(step * 30)
            if step > person.last_step and code not in person.used_otps:
                person.last_step = step
                person.used_otps.add(code)
                return code
        await asyncio.sleep(30 - now % 30 + 0.5)


class Gateway:
    """An HTTP client of the one public entry; remembers the trace of each response."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.http = httpx.AsyncClient(base_url=platform.gateway.url, timeout=60.0)
        self.traces: dict[str, str] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        who: Person | None = None,
        *,
        traced_as: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if who is not None:
            headers.update(who.headers)
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if traced_as:
            self.traces[traced_as] = response.headers.get("x-trace-id", "")
        return response

    async def get(self, path: str, who: Person, **kwargs: Any) -> httpx.Response:
        return await self.call("GET", path, who, **kwargs)

    async def post(self, path: str, who: Person | None, **kwargs: Any) -> httpx.Response:
        return await self.call("POST", path, who, **kwargs)

    async def put(self, path: str, who: Person, **kwargs: Any) -> httpx.Response:
        return await self.call("PUT", path, who, **kwargs)

    # -- identity: agencies, staff, sign-in ---------------------------------------------
    async def sign_in(self, person: Person) -> None:
        body: dict[str, Any] = {
            "agency_id": person.agency_id,
            "email": person.email,
            "password": PASSWORD,
        }
        if person.totp_secret:
            body["otp_code"] = await fresh_otp(person)
        response = await self.post("/api/identity/auth/sign-in", None, json=body)
        assert response.status_code == 200, response.text
        person.access_token = response.json()["access_token"]

    async def bootstrap_agency(self, name: str) -> Person:
        """The platform operator creates an agency from inside the cluster (not a public
        path); its admin then signs in through the gateway."""
        email = f"admin-{uuid.uuid4().hex[:6]}@example.org"
        async with httpx.AsyncClient(base_url=self.platform.processes["identity"].url) as inside:
            created = await inside.post(
                "/agencies",
                json={
                    "name": name,
                    "admin": {"display_name": "Ada Admin", "email": email, "password": PASSWORD},
                },
                headers=OPERATOR,
            )
        assert created.status_code == 201, created.text
        body = created.json()
        admin = Person(body["admin_id"], email, "agency_admin", body["agency_id"])
        await self.enrol(admin)  # admins read charts too: a second factor (ADR 0103)
        await self.sign_in(admin)
        return admin

    async def add_staff(
        self, admin: Person, role: str, site: str, name: str, **personnel: Any
    ) -> Person:
        email = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:6]}@example.org"
        response = await self.post(
            "/api/identity/staff",
            admin,
            json={
                "display_name": name,
                "email": email,
                "roles": [{"site": site, "role": role}],
                "initial_password": PASSWORD,
                **personnel,
            },
        )
        assert response.status_code == 201, response.text
        person = Person(response.json()["id"], email, role, admin.agency_id)
        if role in MFA_ROLES:
            await self.enrol(person)
        await self.sign_in(person)
        return person

    async def enrol(self, person: Person) -> None:
        """Enrol the person's authenticator (TOTP) before their first sign-in."""
        login = {"agency_id": person.agency_id, "email": person.email, "password": PASSWORD}
        started = await self.post("/api/identity/auth/mfa/enrol", None, json=login)
        assert started.status_code == 200, started.text
        secret = str(started.json()["secret"])
        person.totp_secret, person.last_step = secret, -1
        confirmed = await self.post(
            "/api/identity/auth/mfa/confirm",
            None,
            json={**login, "otp_code": await fresh_otp(person)},
        )
        assert confirmed.status_code == 204, confirmed.text


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)
