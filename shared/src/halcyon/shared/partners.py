"""Partner access to the event stream: SCRAM credentials and read-only, prefixed ACLs.

Partners (registries, payers, analytics) read ``partner.<audience>.*`` topics on the
broker's SASL/SCRAM listener and nothing else: an ACL grants READ/DESCRIBE on their
topic prefix and READ on consumer groups named ``partner-<name>*``. Internal topics
have no ACL for them, so the broker refuses them (``allow.everyone.if.no.acl.found``
is false). In Kubernetes the same is a Strimzi ``KafkaUser`` with these ACLs.

Provisioning talks to the trusted internal listener (a super user) with
confluent-kafka's admin client, which supports SCRAM and ACL administration.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from dataclasses import dataclass
from typing import Any

PARTNER_TOPIC_PREFIX = "partner."


def pseudonym(secret: str, tenant_id: str, audience: str, subject_id: str) -> str:
    """A client's stable pseudonym for one partner audience within one agency.

    HMAC-SHA256 keyed by (service secret, agency, audience): the same client gets the
    same pseudonym in every event to that audience, a different one for any other
    audience or agency, and it cannot be reversed without the secret.
    """
    key = hashlib.sha256(f"{secret}\0{tenant_id}\0{audience}".encode()).digest()
    return hmac.new(key, subject_id.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class PartnerGrant:
    name: str
    audience: str  # e.g. "registry": may read partner.registry.*

    @property
    def principal(self) -> str:
        return f"User:{self.name}"

    @property
    def topic_prefix(self) -> str:
        return f"{PARTNER_TOPIC_PREFIX}{self.audience}."

    @property
    def group_prefix(self) -> str:
        return f"partner-{self.name}"


def provision_partner(admin_bootstrap: str, grant: PartnerGrant, password: str) -> None:
    # confluent-kafka's stubs do not export these names; it is a dev/ops dependency.
    k: Any = importlib.import_module("confluent_kafka.admin")

    if len(password) < 12:
        raise ValueError("partner passwords need at least 12 characters")
    admin = k.AdminClient({"bootstrap.servers": admin_bootstrap})
    upsert = k.UserScramCredentialUpsertion(
        grant.name, k.ScramCredentialInfo(k.ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)

    _allow(
        admin_bootstrap,
        grant,
        [
            ("topic", grant.topic_prefix, "READ"),
            ("topic", grant.topic_prefix, "DESCRIBE"),
            ("group", grant.group_prefix, "READ"),
        ],
    )


def grant_topic_prefix(admin_bootstrap: str, grant: PartnerGrant, topic_prefix: str) -> None:
    """Also let the partner read topics under another prefix (e.g. a test namespace)."""
    _allow(
        admin_bootstrap,
        grant,
        [("topic", topic_prefix, "READ"), ("topic", topic_prefix, "DESCRIBE")],
    )


def _allow(admin_bootstrap: str, grant: PartnerGrant, rules: list[tuple[str, str, str]]) -> None:
    k: Any = importlib.import_module("confluent_kafka.admin")
    admin = k.AdminClient({"bootstrap.servers": admin_bootstrap})
    kinds = {"topic": k.ResourceType.TOPIC, "group": k.ResourceType.GROUP}
    bindings = [
        k.AclBinding(
            kinds[kind],
            name,
            k.ResourcePatternType.PREFIXED,
            grant.principal,
            "*",
            getattr(k.AclOperation, operation),
            k.AclPermissionType.ALLOW,
        )
        for kind, name, operation in rules
    ]
    for future in admin.create_acls(bindings).values():
        future.result(timeout=30)
