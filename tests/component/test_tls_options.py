"""The TLS options of docs/tls.md beyond the default self-signed CA: ACME (HTTP-01) for the external hosts, an
existing CA, and an existing cert-manager. Two variant renders of the `eks` stack, shared by the tests below.

    acme_plan        tls.acme {email} (solver http01, class nginx): the eks stack's tenants, "analytics" with hosts
    existing_plan    tls.ca_secret corp-ca, tls.cert_manager existing
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import REPO, kubernetes_objects, render_variant
from component_validation import validate_custom
from pydantic import ValidationError

from rustfs_component.config import PlatformConfig
from rustfs_component.plan import Plan

RELEASE = "kubernetes:helm.sh/v3:Release"
PLATFORM = "rustfs"
# What cert-manager puts on the HTTP-01 solver pod it runs in the Certificate's (the tenant's) namespace, and the
# port its `acmesolver` listens on (cert-manager pkg/issuer/acme/http: the Service's targetPort).
SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true", "acme.cert-manager.io/http-domain": "1234567890",
                 "acme.cert-manager.io/http-token": "1234567890"}
SOLVER_PORT = 8089
# What the ingress-nginx chart puts on its controller pods.
CONTROLLER_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx",
                     "app.kubernetes.io/component": "controller"}


def _tls(**tls: Any) -> Any:
    def mutate(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"].setdefault("tls", {}).update(tls)
    return mutate


@pytest.fixture(scope="module")
def acme_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render_variant(tmp_path_factory.mktemp("acme"), "eks", _tls(acme={"email": "ops@example.com"}))


@pytest.fixture(scope="module")
def existing_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render_variant(tmp_path_factory.mktemp("existing-ca"), "eks",
                          _tls(ca_secret="corp-ca", cert_manager="existing"))


def _objects(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [o for o in kubernetes_objects(plan) if o["kind"] == kind]


def _hosts(plan: Plan) -> dict[tuple[str, str], list[str]]:
    """{(namespace, tenant): hosts} from the tenants' Ingresses (rules' hosts without the `*.` wildcards)."""
    return {(i["metadata"]["namespace"], i["metadata"]["name"]):
            [r["host"] for r in i["spec"]["rules"] if not r["host"].startswith("*.")] for i in _objects(plan, "Ingress")}


# --- ACME (HTTP-01) ----------------------------------------------------------------------------------------------

def test_acme_http01_cluster_issuer_validates_strictly(acme_plan: Plan) -> None:
    issuers = {o["metadata"]["name"]: o for o in _objects(acme_plan, "ClusterIssuer")}
    acme = issuers[f"{PLATFORM}-acme"]
    assert validate_custom(acme) == []
    spec = acme["spec"]["acme"]
    assert spec["email"] == "ops@example.com"
    assert spec["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert spec["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    # The internal CA chain is still there: the engine's own Certificate comes from it.
    assert {f"{PLATFORM}-selfsigned", f"{PLATFORM}-ca"} <= issuers.keys()


def test_acme_issuer_schema_catches_a_wrong_field(acme_plan: Plan) -> None:
    [acme] = [o for o in _objects(acme_plan, "ClusterIssuer") if "acme" in o["spec"]]
    broken = {**acme, "spec": {"acme": {**acme["spec"]["acme"], "solvers": [{"http01": {"ingress": {"clas": "x"}}}]}}}
    assert validate_custom(broken)


def test_acme_gives_tenants_with_hosts_an_external_certificate_for_exactly_their_hosts(acme_plan: Plan) -> None:
    hosts = _hosts(acme_plan)
    assert hosts, "the eks stack has a tenant with hosts"
    certificates = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in _objects(acme_plan, "Certificate")}
    tenants = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in _objects(acme_plan, "Service")
               if s["metadata"].get("labels", {}).get("rustfs.io/tenant") == s["metadata"]["name"]}
    assert hosts.keys() < tenants, "a tenant without hosts is needed to check it gets no external certificate"
    for namespace, tenant in tenants:
        internal = certificates[(namespace, f"{tenant}-tls")]
        assert internal["spec"]["issuerRef"]["name"] == f"{PLATFORM}-ca"
        external = certificates.get((namespace, f"{tenant}-external-tls"))
        if (namespace, tenant) not in hosts:
            assert external is None, tenant
            continue
        assert external is not None, tenant
        assert validate_custom(external) == []
        assert external["spec"]["secretName"] == f"{tenant}-external-tls"
        assert external["spec"]["issuerRef"] == {"name": f"{PLATFORM}-acme", "kind": "ClusterIssuer",
                                                 "group": "cert-manager.io"}
        # HTTP-01 cannot prove a wildcard: exactly the hosts.
        assert sorted(external["spec"]["dnsNames"]) == sorted(hosts[(namespace, tenant)])
        # The Ingress serves the ACME Secret; the engine keeps mounting its internal one.
        [ingress] = [i for i in _objects(acme_plan, "Ingress") if i["metadata"]["name"] == tenant]
        assert {t["secretName"] for t in ingress["spec"]["tls"]} == {f"{tenant}-external-tls"}
        for sts in [s for s in _objects(acme_plan, "StatefulSet")  # every pool's, the warm tier's too
                    if s["spec"]["template"]["metadata"]["labels"].get("rustfs.io/tenant") == tenant]:
            secrets = {v["secret"]["secretName"] for v in sts["spec"]["template"]["spec"]["volumes"] if "secret" in v}
            assert secrets == {f"{tenant}-tls"}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector's verdict on `labels` (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[operator]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict[str, Any], namespace: str, labels: dict[str, str], policy_namespace: str,
                  namespace_labels: dict[str, str]) -> bool:
    if "ipBlock" in peer:
        return False  # pod-to-pod traffic is judged by the selectors (the pod IP is unknown here)
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif namespace != policy_namespace:
        return False
    return _selects(peer.get("podSelector", {}), labels)


def _allowed(policies: list[dict[str, Any]], direction: str, pod_namespace: str, pod_labels: dict[str, str],
             peer_namespace: str, peer_labels: dict[str, str], port: int) -> bool:
    """Whether the rendered NetworkPolicies let `direction` ('Ingress' into / 'Egress' out of the pod) traffic with
    the peer on TCP `port` through, as the API defines it: a pod no policy of that type selects is not isolated."""
    selecting = [p for p in policies if p["metadata"]["namespace"] == pod_namespace
                 and direction in p["spec"].get("policyTypes", ["Ingress"])
                 and _selects(p["spec"]["podSelector"], pod_labels)]
    if not selecting:
        return True
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(rules_key, []):
            ports = rule.get("ports")
            if ports and not any(p.get("port") in (port, None) and p.get("protocol", "TCP") == "TCP" for p in ports):
                continue
            peers = rule.get(peers_key)
            if not peers or any(_peer_matches(peer, peer_namespace, peer_labels, pod_namespace,
                                              {"kubernetes.io/metadata.name": peer_namespace}) for peer in peers):
                return True
    return False


def test_the_http01_solver_pod_is_reachable_from_the_ingress_controller(acme_plan: Plan) -> None:
    """cert-manager runs the solver pod in the tenant's namespace; the ingress controller must reach it on 8089 (and
    reach nothing else of the tenant beyond the S3 port)."""
    policies = _objects(acme_plan, "NetworkPolicy")
    assert policies
    [controller_ns] = [n["metadata"]["name"] for n in _objects(acme_plan, "Namespace")
                       if n["metadata"]["name"] == "ingress-nginx"]
    for namespace, tenant in _hosts(acme_plan):
        args = (controller_ns, CONTROLLER_LABELS, SOLVER_PORT)
        assert _allowed(policies, "Ingress", namespace, SOLVER_LABELS, *args), tenant
        assert _allowed(policies, "Egress", controller_ns, CONTROLLER_LABELS, namespace, SOLVER_LABELS, SOLVER_PORT)
        # The evaluator is no rubber stamp: the tenant's engine pods are closed to the controller on 8089.
        engine = {"app.kubernetes.io/name": "rustfs", "rustfs.io/tenant": tenant}
        assert not _allowed(policies, "Ingress", namespace, engine, *args), tenant
        assert _allowed(policies, "Ingress", namespace, engine, controller_ns, CONTROLLER_LABELS, 9000), tenant


# --- an existing CA and an existing cert-manager ------------------------------------------------------------------

def test_an_existing_ca_issues_from_its_secret_without_a_bootstrap(existing_plan: Plan) -> None:
    issuers = _objects(existing_plan, "ClusterIssuer")
    assert [i["spec"] for i in issuers] == [{"ca": {"secretName": "corp-ca"}}]
    [issuer] = issuers
    assert validate_custom(issuer) == []
    certificates = _objects(existing_plan, "Certificate")
    assert certificates
    assert not [c for c in certificates if c["spec"].get("isCA")]
    for certificate in certificates:
        assert certificate["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"]


def test_an_existing_cert_manager_renders_no_release(existing_plan: Plan, plans: dict[str, Plan]) -> None:
    def charts(plan: Plan) -> list[str]:
        return [plan.raw_inputs(r.urn)["chart"] for r in plan.find(RELEASE)]

    assert any(c.endswith("/cert-manager") for c in charts(plans["eks"]))  # the default installs it
    assert not [c for c in charts(existing_plan) if "cert-manager" in c]
    assert any(c.endswith("/ingress-nginx") or "ingress-nginx" in c for c in charts(existing_plan))
    # The issuers and Certificates are still rendered, for the cert-manager already in the cluster.
    assert _objects(existing_plan, "ClusterIssuer") and _objects(existing_plan, "Certificate")


def test_the_default_stack_has_no_acme(plans: dict[str, Plan]) -> None:
    assert not [c for c in _objects(plans["eks"], "Certificate") if c["metadata"]["name"].endswith("-external-tls")]
    assert not [i for i in _objects(plans["eks"], "ClusterIssuer") if "acme" in i["spec"]]


# --- HTTP-01 only where the ACME CA can reach the ingress ---------------------------------------------------------

def _platform(stack: str, ingress: dict[str, Any] | None = None, **acme: Any) -> dict[str, Any]:
    """The stack's platform config with tls.acme (HTTP-01 unless `acme` says otherwise) and `ingress` replaced."""
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config: dict[str, Any] = document["config"]["rustfs-platform:platform"]
    config["tls"] = {"acme": {"email": "ops@example.com", **acme}}
    if ingress is not None:
        config["ingress"] = ingress
    return config


def _refusal(config: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as error:
        PlatformConfig.model_validate(config)
    [detail] = error.value.errors()
    return str(detail["msg"])


REACHABLE = {"kind": "ingress-nginx", "scheme": "internet-facing"}


@pytest.mark.parametrize(("stack", "ingress", "cause"), [
    ("eks", {"kind": "none"}, "ingress.kind is 'none'"),
    ("eks", {"kind": "gateway-api", "gateway_class_name": "eg"}, "ingress.kind 'gateway-api' does not serve"),
    ("eks", {"kind": "ingress-nginx", "scheme": "internal"}, "ingress.scheme 'internal'"),
    ("eks", {"kind": "ingress-nginx"}, "ingress.scheme 'internal'"),     # the scheme's default
    ("ack", None, "ingress.scheme 'internal'"),                          # the ack stack's intranet CLB
    ("tke", {"kind": "ingress-nginx", "scheme": "internal", "internal_subnet_id": "subnet-abc123"},
     "ingress.scheme 'internal'"),
    ("existing", None, "ingress.kind 'gateway-api' does not serve"),     # the existing stack's Gateway
])
def test_http01_is_refused_where_the_acme_ca_cannot_reach_the_ingress(stack: str, ingress: dict[str, Any] | None,
                                                                      cause: str) -> None:
    message = _refusal(_platform(stack, ingress))
    assert "tls.acme.solver 'http01'" in message and cause in message, message
    # It says what to use instead, and that works: an internet-facing ingress-nginx, or on EKS DNS-01 in Route53
    # (elsewhere an own CA, since DNS-01 there needs a webhook the component does not render).
    assert "ingress.scheme 'internet-facing'" in message, message
    assert ("tls.acme.solver 'route53'" in message) == (stack == "eks"), message
    assert ("tls.ca_secret" in message) == (stack != "eks"), message
    assert PlatformConfig.model_validate(_platform(stack, REACHABLE)).tls.acme is not None
    if stack == "eks":
        route53 = _platform(stack, ingress, solver="route53", route53_hosted_zone_id="Z0123456789ABC")
        assert PlatformConfig.model_validate(route53).tls.acme is not None


def test_the_scheme_counts_only_for_a_load_balancer_the_component_makes() -> None:
    internal = {"kind": "ingress-nginx", "scheme": "internal"}
    assert "ingress.scheme 'internal'" in _refusal(_platform("eks", internal))
    # An existing controller's load balancer, and Tanzu's Supervisor load balancer, are not the scheme's to decide.
    assert PlatformConfig.model_validate(_platform("eks", {**internal, "install_controller": False})).tls.acme
    assert PlatformConfig.model_validate(_platform("tanzu", internal)).tls.acme
