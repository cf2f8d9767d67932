"""Generate the Kustomize base for every service (`python deploy/k8s/generate.py`).

One template, seven services: the manifests stay consistent and a test re-generates
them to catch hand edits that drift. Overlays (development, production) are
hand-written Kustomize patches on top.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
BASE = HERE / "base"
NAMESPACE = "halcyon"
IMAGE = "ghcr.io/halcyon-health/{service}:0.1.0"

# HTTP-heavy services scale on CPU (HPA); event-heavy ones on consumer lag (KEDA).
SERVICES: dict[str, dict[str, Any]] = {
    # The gateway reads only identity.access-revoked.v1, into memory (ADR 0104).
    "gateway": {"scaler": "cpu", "mongo": False, "kafka": True, "consumes": []},
    "identity": {"scaler": "cpu", "mongo": True, "kafka": True, "consumes": ["audit.access.v1"]},
    "clinical": {
        "scaler": "cpu",
        "mongo": True,
        "kafka": True,
        "consumes": ["identity.staff.v1", "inventory.dispense.v1"],
    },
    "scheduling": {
        "scaler": "cpu",
        "mongo": True,
        "kafka": True,
        "consumes": [
            "identity.site.v1",
            "identity.staff.v1",
            "clinical.client.v1",
            "clinical.consent.v1",
            "clinical.screening.v1",
            "billing.authorization.v1",
        ],
    },
    "inventory": {
        "scaler": "lag",
        "mongo": True,
        "kafka": True,
        "consumes": ["identity.site.v1", "identity.staff.v1", "scheduling.appointment.v1"],
    },
    "billing": {
        "scaler": "lag",
        "mongo": True,
        "kafka": True,
        "consumes": ["clinical.client.v1", "clinical.encounter.v1"],
    },
    "notifications": {
        "scaler": "lag",
        "mongo": True,
        "kafka": True,
        "consumes": [
            "scheduling.appointment.v1",
            "scheduling.waitlist.v1",
            "clinical.vitals.v1",
            "clinical.safety.v1",
            "inventory.alert.v1",
            "identity.credential.v1",
            "identity.staff.v1",
            "clinical.client.v1",
            "billing.claim.v1",
        ],
    },
    # The staff console (a server-rendered BFF behind the gateway). Its sessions live in
    # memory, so the Service pins a client to one pod (sticky); losing a pod signs its
    # users out, nothing else.
    "console": {
        "scaler": "cpu",
        "mongo": False,
        "kafka": False,
        "consumes": [],
        "probe_prefix": "/console",
        "secrets": True,
        "sticky": True,
    },
}


def labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": "halcyon"}


def deployment(service: str, spec: dict[str, Any]) -> dict[str, Any]:
    env_from = [{"configMapRef": {"name": f"{service}-config"}}]
    if spec["mongo"] or spec.get("secrets"):
        # Connection string and keys come from a Secret created by ops (or an
        # external-secrets operator); never committed.
        env_from.append({"secretRef": {"name": f"{service}-secrets"}})
    prefix = spec.get("probe_prefix", "")
    probe = {"httpGet": {"path": f"{prefix}/healthz", "port": "http"}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service, "labels": labels(service)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels(service)},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(service)},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": service,
                            "image": IMAGE.format(service=service),
                            "ports": [{"name": "http", "containerPort": 8000}],
                            "envFrom": env_from,
                            "livenessProbe": probe,
                            "readinessProbe": {
                                "httpGet": {"path": f"{prefix}/readyz", "port": "http"},
                                "periodSeconds": 5,
                                "failureThreshold": 3,
                            },
                            "startupProbe": {
                                "httpGet": {"path": f"{prefix}/healthz", "port": "http"},
                                "periodSeconds": 2,
                                "failureThreshold": 60,
                            },
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def service_object(service: str, spec: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": labels(service),
        "ports": [{"name": "http", "port": 8000, "targetPort": "http"}],
    }
    if spec.get("sticky"):
        body["sessionAffinity"] = "ClientIP"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "labels": labels(service)},
        "spec": body,
    }


def config_map(service: str, spec: dict[str, Any]) -> dict[str, Any]:
    data = {
        "HALCYON_ENVIRONMENT": "production",
        "HALCYON_LOG_LEVEL": "INFO",
        "HALCYON_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
        "HALCYON_JWKS_URL": "http://identity:8000/.well-known/jwks.json",
    }
    if spec["kafka"]:
        data["HALCYON_KAFKA_BOOTSTRAP"] = "halcyon-kafka-bootstrap:9092"
        data["HALCYON_TOPIC_PARTITIONS"] = "12"
    if service == "gateway":
        # JSON, as the gateway's settings parse it.
        data["HALCYON_GATEWAY_UPSTREAMS"] = json.dumps(
            {s: f"http://{s}:8000" for s in SERVICES if s not in ("gateway", "console")}
        )
        # Only identity (the keys) gates the public entry's readiness: one service down
        # must not take the whole platform out of rotation.
        data["HALCYON_GATEWAY_REQUIRED_UPSTREAMS"] = json.dumps(["identity"])
        # The ingress controller's pod network: only it may set X-Forwarded-For.
        data["HALCYON_GATEWAY_TRUSTED_PROXIES"] = json.dumps(["10.0.0.0/8"])
        data["HALCYON_GATEWAY_CONSOLE_UPSTREAM"] = "http://console:8000"
    if service == "console":
        data["HALCYON_CONSOLE_GATEWAY_URL"] = "http://gateway:8000"
        data["HALCYON_CONSOLE_COOKIE_SECURE"] = "true"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{service}-config", "labels": labels(service)},
        "data": data,
    }


def pdb(service: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": service, "labels": labels(service)},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels(service)}},
    }


def autoscaler(service: str, spec: dict[str, Any]) -> dict[str, Any]:
    if spec["scaler"] == "cpu":
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": service, "labels": labels(service)},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        }
    # More instances than partitions would idle: maxReplicaCount = partitions (12).
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": service, "labels": labels(service)},
        "spec": {
            "scaleTargetRef": {"name": service},
            "minReplicaCount": 2,
            "maxReplicaCount": 12,
            "triggers": [
                {
                    "type": "kafka",
                    "metadata": {
                        "bootstrapServers": "halcyon-kafka-bootstrap:9092",
                        "consumerGroup": f"halcyon-{service}",
                        "topic": topic,
                        "lagThreshold": "100",
                        "offsetResetPolicy": "earliest",
                    },
                }
                for topic in spec["consumes"]
            ],
        },
    }


def network_policy(service: str, spec: dict[str, Any]) -> dict[str, Any]:
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    egress: list[dict[str, Any]] = [dns]
    if service == "gateway":
        ingress: list[dict[str, Any]] = [{"ports": [{"protocol": "TCP", "port": 8000}]}]
        egress.append(
            {
                "to": [
                    {"podSelector": {"matchLabels": {"app.kubernetes.io/name": s}}}
                    for s in SERVICES
                    if s != "gateway"
                ],
                "ports": [{"protocol": "TCP", "port": 8000}],
            }
        )
    else:
        ingress = [
            {
                "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}],
                "ports": [{"protocol": "TCP", "port": 8000}],
            }
        ]
        if service == "console":  # it calls the public API through the gateway
            egress.append(
                {
                    "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}],
                    "ports": [{"protocol": "TCP", "port": 8000}],
                }
            )
        if service != "identity":  # everyone fetches identity's JWKS
            egress.append(
                {
                    "to": [
                        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "identity"}}}
                    ],
                    "ports": [{"protocol": "TCP", "port": 8000}],
                }
            )
        else:
            ingress[0]["from"].append(
                {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "halcyon"}}}
            )
    if spec["kafka"]:
        egress.append(
            {
                "to": [{"podSelector": {"matchLabels": {"strimzi.io/cluster": "halcyon"}}}],
                "ports": [{"protocol": "TCP", "port": 9092}],
            }
        )
    if spec["mongo"]:
        # The service's own MongoDB (an external connection string) on 27017 only.
        egress.append(
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                "ports": [{"protocol": "TCP", "port": 27017}],
            }
        )
    egress.append(
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "observability"}
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 4318}],
        }
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": service, "labels": labels(service)},
        "spec": {
            "podSelector": {"matchLabels": labels(service)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def render() -> dict[Path, str]:
    files: dict[Path, str] = {}
    resources = ["namespace.yaml", "default-deny.yaml", "kafka.yaml"]
    for service, spec in SERVICES.items():
        docs = [
            deployment(service, spec),
            service_object(service, spec),
            config_map(service, spec),
            pdb(service),
            autoscaler(service, spec),
            network_policy(service, spec),
        ]
        name = f"{service}.yaml"
        files[BASE / name] = "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
        resources.append(name)
    files[BASE / "kustomization.yaml"] = yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": NAMESPACE,
            "resources": resources,
        },
        sort_keys=False,
    )
    return files


def main(argv: list[str]) -> int:
    files = render()
    if argv[:1] == ["--check"]:
        stale = [str(p) for p, text in files.items() if not p.exists() or p.read_text() != text]
        if stale:
            print("out of date (run python deploy/k8s/generate.py):", *stale, sep="\n  ")
            return 1
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
