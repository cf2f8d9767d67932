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

import importlib
from dataclasses import dataclass
from typing import Any

PARTNER_TOPIC_PREFIX = "partner."


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

    def allow(kind: Any, name: str, operation: Any) -> Any:
        return k.AclBinding(
            kind,
            name,
            k.ResourcePatternType.PREFIXED,
            grant.principal,
            "*",
            operation,
            k.AclPermissionType.ALLOW,
        )

    bindings = [
        allow(k.ResourceType.TOPIC, grant.topic_prefix, k.AclOperation.READ),
        allow(k.ResourceType.TOPIC, grant.topic_prefix, k.AclOperation.DESCRIBE),
        allow(k.ResourceType.GROUP, grant.group_prefix, k.AclOperation.READ),
    ]
    for future in admin.create_acls(bindings).values():
        future.result(timeout=30)
