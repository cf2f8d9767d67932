"""The Kubernetes manifests, validated offline against the Kubernetes schemas.

Built-in kinds are checked with kubernetes-validate (strict: unknown fields fail);
CRDs (Strimzi, KEDA) have no schema there, so the rules we rely on are asserted here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from halcyon.shared.testing.servers import repo_root

K8S = repo_root() / "deploy" / "k8s"
K8S_VERSION = "1.31.0"
CRD_GROUPS = ("keda.sh/", "kafka.strimzi.io/")


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def base_objects() -> list[dict[str, Any]]:
    return [
        d
        for f in sorted((K8S / "base").glob("*.yaml"))
        if f.name != "kustomization.yaml"
        for d in load(f)
    ]


def rendered(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (for kustomize) not installed; the base is still validated")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def validate(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["apiVersion"].startswith(CRD_GROUPS):
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_generated_base_has_not_drifted_from_its_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(K8S / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_base_validates_against_the_kubernetes_schemas() -> None:
    validate(base_objects())


@pytest.mark.parametrize("overlay", ["development", "production"])
def test_overlays_render_and_validate(overlay: str) -> None:
    objects = rendered(overlay)
    validate(objects)
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        "halcyon"
    }


def test_every_service_has_probes_limits_budget_and_autoscaling() -> None:
    objects = base_objects()
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert set(deployments) == {
        "gateway",
        "identity",
        "clinical",
        "scheduling",
        "inventory",
        "billing",
        "notifications",
        "console",
    }
    budgets = {o["metadata"]["name"] for o in objects if o["kind"] == "PodDisruptionBudget"}
    hpas = {o["metadata"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    keda = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ScaledObject"}
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        prefix = "/console" if name == "console" else ""  # the console lives under /console
        assert container["livenessProbe"]["httpGet"]["path"] == f"{prefix}/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == f"{prefix}/readyz"
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert name in budgets
        assert (name in hpas) != (name in keda), f"{name} needs exactly one autoscaler"
    for name in ("billing", "notifications", "inventory"):  # event-heavy: scale on lag
        triggers = keda[name]["spec"]["triggers"]
        assert triggers
        assert all(t["metadata"]["consumerGroup"] == f"halcyon-{name}" for t in triggers)


def test_secrets_are_referenced_never_committed() -> None:
    for path in K8S.rglob("*.yaml"):
        for obj in load(path):
            assert obj.get("kind") != "Secret", f"{path} commits a Secret"


def test_only_the_gateway_is_reachable_from_outside() -> None:
    objects = base_objects()
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "NetworkPolicy"}
    assert policies["default-deny"]["spec"]["podSelector"] == {}
    for name, policy in policies.items():
        if name in ("default-deny", "gateway"):
            continue
        for rule in policy["spec"]["ingress"]:
            assert rule.get("from"), f"{name} accepts traffic from anywhere"
            sources = {
                p["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
                or p["podSelector"]["matchLabels"].get("app.kubernetes.io/part-of")
                for p in rule["from"]
            }
            assert sources <= {"gateway", "halcyon"}, (name, sources)
