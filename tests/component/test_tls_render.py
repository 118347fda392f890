"""TLS in the rendered plans (docs/tls.md): cert-manager, the CA bootstrap, each tenant's Certificate, its mount,
and https drive endpoints; with `tls.enabled: false` none of it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from component_support import REPO, STACKS, kubernetes_objects, render_variant, waits_for
from component_validation import validate_custom, validate_helm_values

from rustfs_component.plan import Plan
from storage_engine.config import EngineSettings
from storage_engine.topology import parse_pools

RELEASE = "kubernetes:helm.sh/v3:Release"
VERSIONS = json.loads((REPO.parent / "shared" / "schemas" / "helm" / "versions.json").read_text())


def _objects(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [o for o in kubernetes_objects(plan) if o["kind"] == kind]


def _release(plan: Plan, chart: str) -> dict[str, Any]:
    [release] = [plan.raw_inputs(r.urn) for r in plan.find(RELEASE) if plan.raw_inputs(r.urn)["chart"].endswith(f"/{chart}")]
    return release


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


@pytest.mark.parametrize("stack", STACKS)
def test_cert_manager_release_is_pinned_with_its_crds(plans: dict[str, Plan], stack: str) -> None:
    pin = next(v for v in VERSIONS if v["chart"] == "cert-manager")
    release = _release(plans[stack], "cert-manager")
    assert release["chart"] == pin["ociRepository"]
    assert release["version"] == pin["chartVersion"]
    assert release["values"]["crds"]["enabled"] is True
    assert validate_helm_values("cert-manager", release["values"]) == []


def test_helm_values_validation_catches_a_wrong_value() -> None:
    assert validate_helm_values("cert-manager", {"crds": {"enabled": "yes"}})


@pytest.mark.parametrize("stack", STACKS)
def test_self_signed_ca_bootstrap_chain(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    issuers = {o["metadata"]["name"]: o for o in _objects(plan, "ClusterIssuer")}
    certificates = _objects(plan, "Certificate")
    [ca] = [c for c in certificates if c["spec"].get("isCA")]
    selfsigned = issuers[ca["spec"]["issuerRef"]["name"]]
    assert ca["spec"]["issuerRef"]["kind"] == "ClusterIssuer" and selfsigned["spec"] == {"selfSigned": {}}
    [ca_issuer] = [i for i in issuers.values() if "ca" in i["spec"]]
    assert ca_issuer["spec"]["ca"]["secretName"] == ca["spec"]["secretName"]
    assert ca["metadata"]["namespace"] == "cert-manager"  # the cluster resource namespace ClusterIssuers read
    for certificate in certificates:
        if not certificate["spec"].get("isCA"):
            assert certificate["spec"]["issuerRef"]["name"] == ca_issuer["metadata"]["name"]
    for manifest in [*issuers.values(), *certificates]:
        assert validate_custom(manifest) == []
    # The CRDs come with the release: every cert-manager resource waits for it.
    [release] = [r for r in plan.find(RELEASE) if plan.raw_inputs(r.urn)["chart"].endswith("/cert-manager")]
    for reg in plan.registrations:
        if reg.type.startswith("kubernetes:cert-manager.io/"):
            assert waits_for(plan, reg.urn, release.urn), reg.name


def _expand(expression: str) -> list[str]:
    """`a-{0...3}.b` -> the names it stands for (the engine's own ellipsis form)."""
    match = re.search(r"\{(\d+)\.\.\.(\d+)\}", expression)
    if not match:
        return [expression]
    return [n for i in range(int(match[1]), int(match[2]) + 1)
            for n in _expand(expression[:match.start()] + str(i) + expression[match.end():])]


@pytest.mark.parametrize("stack", STACKS)
def test_each_tenant_certificate_covers_its_pods_and_clients_and_is_mounted(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    certificates = {(c["metadata"]["namespace"], c["spec"]["secretName"]): c for c in _objects(plan, "Certificate")}
    services = _objects(plan, "Service")
    statefulsets = _objects(plan, "StatefulSet")
    assert statefulsets
    for sts in statefulsets:
        namespace = sts["metadata"]["namespace"]
        pod = sts["spec"]["template"]["spec"]
        [container] = pod["containers"]
        tls_dir = _env(container)["RUSTFS_TLS_PATH"]
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == tls_dir]
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert mount.get("readOnly") is True
        assert {i["key"]: i["path"] for i in volume["secret"]["items"]} == {
            "tls.crt": "rustfs_cert.pem", "tls.key": "rustfs_key.pem", "ca.crt": "ca.crt"}
        names = certificates[(namespace, volume["secret"]["secretName"])]["spec"]["dnsNames"]
        # Every peer this pod dials (its args' drive endpoints, all pools) is a name of the certificate.
        endpoints = [a for a in container["args"] if "://" in a]
        for expression in endpoints:
            assert expression.startswith("https://")
            for url in _expand(expression):
                assert url.split("://", 1)[1].split(":", 1)[0] in names, url
        # Its own pods' headless names, from the StatefulSet and its governing Service.
        headless = sts["spec"]["serviceName"]
        assert any(s["metadata"]["name"] == headless and s["spec"]["clusterIP"] == "None" for s in services)
        for i in range(sts["spec"]["replicas"]):
            assert f"{sts['metadata']['name']}-{i}.{headless}.{namespace}.svc.cluster.local" in names
        # The client Services selecting these pods, by every name a client in the cluster may use.
        labels = sts["spec"]["template"]["metadata"]["labels"]
        clients = [s for s in services if s["metadata"]["namespace"] == namespace and s["spec"].get("clusterIP") != "None"
                   and s["spec"]["selector"].items() <= labels.items()]
        assert clients
        for service in clients:
            name = service["metadata"]["name"]
            assert {name, f"{name}.{namespace}", f"{name}.{namespace}.svc",
                    f"{name}.{namespace}.svc.cluster.local"} <= set(names)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["scheme"] == "HTTPS"
        settings = EngineSettings.model_validate({"tls_path": tls_dir, "volumes": " ".join(endpoints) or "/data"})
        assert settings.tls_path == tls_dir
        if endpoints:
            parse_pools(endpoints)


def test_tenant_hosts_reach_the_certificate(tmp_path: Path) -> None:
    def mutate(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["tenants"][0]["hosts"] = ["s3.example.com"]

    try:
        plan = render_variant(tmp_path, "existing", mutate)
    except Exception as error:  # noqa: BLE001 - `hosts` is the ingress work's field; absent until it lands
        if "hosts" in str(error):
            pytest.skip("tenants[].hosts is not a config field yet")
        raise
    names = {n for c in _objects(plan, "Certificate") for n in c["spec"].get("dnsNames", [])}
    assert {"s3.example.com", "*.s3.example.com"} <= names


def test_tls_off_renders_none_of_it(tmp_path: Path) -> None:
    plan = render_variant(tmp_path, "eks", lambda c: c["rustfs-platform:platform"].setdefault("tls", {}).update(enabled=False))
    assert not [r for r in plan.find(RELEASE) if "cert-manager" in plan.raw_inputs(r.urn)["chart"]]
    assert not [r for r in plan.registrations if "cert-manager" in r.type or "CertManager" in r.type]
    for sts in _objects(plan, "StatefulSet"):
        [container] = sts["spec"]["template"]["spec"]["containers"]
        assert "RUSTFS_TLS_PATH" not in _env(container)
        assert all(not a.startswith("https://") for a in container["args"])
        assert any(a.startswith("http://") for a in container["args"])
        assert all("secret" not in v for v in sts["spec"]["template"]["spec"]["volumes"])
