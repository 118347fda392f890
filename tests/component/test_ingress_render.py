"""The way in (issue 9): ingress-nginx with each cloud's load balancer, a TLS Ingress per tenant, Gateway API.

Everything is read from the rendered plans (the session `plans` fixture), except one Gateway API variant render.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from component_support import REPO, kubernetes_objects, render_variant
from component_validation import has_crd_schema, unknown_values_keys, validate_builtin, validate_custom
from pydantic import ValidationError
from storage_engine.config import env_name

from rustfs_component.config import PlatformConfig
from rustfs_component.plan import Plan
from rustfs_component.services import ingress as ingress_module

NGINX_STACKS = ["eks", "ack", "tke", "tanzu"]
RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"
LB_ANNOTATIONS = {
    "eks": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},  # internet-facing, in-tree
    "ack": {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"},
    "tke": {},  # a public CLB is TKE's default
    "tanzu": {},  # the Supervisor's NSX ALB serves any LoadBalancer Service
}
S3_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/proxy-body-size": "0",
    "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-buffering": "off",
    "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
}


def stack_config(stack: str) -> dict[str, Any]:
    import yaml

    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return document["config"]["rustfs-platform:platform"]


def objects(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [o for o in kubernetes_objects(plan) if o.get("kind") == kind]


def test_the_chart_is_the_pinned_one() -> None:
    pinned = {v["chart"]: v for v in json.loads((REPO.parent / "shared/schemas/helm/versions.json").read_text())}
    assert ingress_module.CHART_VERSION == pinned["ingress-nginx"]["chartVersion"]
    assert ingress_module.CHART_REPOSITORY == pinned["ingress-nginx"]["helmRepository"]


@pytest.mark.parametrize("stack", NGINX_STACKS)
def test_controller_release_and_its_load_balancer(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    [release] = plan.find(RELEASE, "rustfs-ingress-release")
    inputs = plan.raw_inputs(release.urn)
    assert (inputs["chart"], inputs["version"], inputs["namespace"]) == ("ingress-nginx", "4.15.1", "ingress-nginx")
    assert unknown_values_keys("ingress-nginx", inputs["values"]) == []
    [service] = plan.find(SERVICE, "rustfs-ingress-lb")
    manifest = plan.raw_inputs(service.urn)
    assert manifest["spec"]["type"] == "LoadBalancer"
    assert manifest["metadata"].get("annotations", {}) == LB_ANNOTATIONS[stack]
    assert manifest["spec"]["selector"] == ingress_module.CONTROLLER_SELECTOR
    # The chart's own pods carry those selector labels, and the controller publishes this Service's address.
    assert inputs["values"]["controller"]["publishService"]["pathOverride"] == "ingress-nginx/ingress-nginx-controller"


@pytest.mark.parametrize("stack", ["eks", "ack", "tke"])
def test_destroy_removes_the_load_balancer_before_nodes_and_network(plans: dict[str, Plan], stack: str) -> None:
    """Pulumi deletes dependents first: the Service (its LB gone) before the Release, the Release before the node
    pools, which depend on the network."""
    plan = plans[stack]
    [release] = plan.find(RELEASE, "rustfs-ingress-release")
    [service] = plan.find(SERVICE, "rustfs-ingress-lb")
    assert release.urn in service.dependencies
    node_pools = [r.urn for r in plan.registrations
                  if r.type in ("aws:eks/nodeGroup:NodeGroup", "alicloud:cs/nodePool:NodePool",
                                "tencentcloud:Kubernetes/nodePool:NodePool")]
    assert node_pools and set(node_pools) <= set(release.dependencies)


@pytest.mark.parametrize("stack", NGINX_STACKS)
def test_each_tenant_with_hosts_has_a_tls_ingress_for_s3(plans: dict[str, Plan], stack: str) -> None:
    tenants = [t for t in stack_config(stack)["tenants"] if t.get("hosts")]
    ingresses = {o["metadata"]["name"]: o for o in objects(plans[stack], "Ingress")}
    assert tenants and set(ingresses) == {t["name"] for t in tenants}
    for tenant in tenants:
        ingress = ingresses[tenant["name"]]
        names = [n for h in tenant["hosts"] for n in (h, f"*.{h}")]
        assert ingress["metadata"]["namespace"] == tenant.get("namespace", tenant["name"])
        assert S3_ANNOTATIONS.items() <= ingress["metadata"]["annotations"].items()
        assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
        assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 600
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert ingress["spec"]["tls"] == [{"hosts": names, "secretName": f"{tenant['name']}-tls"}]
        assert [r["host"] for r in ingress["spec"]["rules"]] == names
        for rule in ingress["spec"]["rules"]:
            [path] = rule["http"]["paths"]
            assert path["backend"] == {"service": {"name": tenant["name"], "port": {"number": 9000}}}


@pytest.mark.parametrize("stack", ["eks", "tke", "existing"])
def test_hosts_become_the_engine_server_domains(plans: dict[str, Plan], stack: str) -> None:
    for tenant in stack_config(stack)["tenants"]:
        for sts in objects(plans[stack], "StatefulSet"):
            if sts["metadata"]["labels"].get("rustfs.io/tenant") != tenant["name"]:
                continue
            env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
            if tenant.get("hosts"):
                assert env[env_name("server_domains")] == ",".join(tenant["hosts"])
            else:
                assert env_name("server_domains") not in env


def _gateway_checks(plan: Plan, config: dict[str, Any]) -> None:
    tenants = [t for t in config["tenants"] if t.get("hosts")]
    [gateway] = objects(plan, "Gateway")
    assert gateway["spec"]["gatewayClassName"] == config["ingress"]["gateway_class_name"]
    listeners = {listener["hostname"]: listener for listener in gateway["spec"]["listeners"]}
    routes = {o["metadata"]["name"]: o for o in objects(plan, "HTTPRoute")}
    grants = {o["metadata"]["namespace"]: o for o in objects(plan, "ReferenceGrant")}
    assert set(routes) == {t["name"] for t in tenants}
    assert not objects(plan, "Ingress") and not plan.find(RELEASE, "rustfs-ingress-release")
    for tenant in tenants:
        namespace = tenant.get("namespace", tenant["name"])
        names = [n for h in tenant["hosts"] for n in (h, f"*.{h}")]
        for name in names:
            assert listeners[name]["protocol"] == "HTTPS" and listeners[name]["tls"]["certificateRefs"] == [
                {"kind": "Secret", "name": f"{tenant['name']}-tls", "namespace": namespace}]
        route = routes[tenant["name"]]
        assert route["spec"]["hostnames"] == names
        assert route["spec"]["parentRefs"][0]["name"] == gateway["metadata"]["name"]
        assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == tenant["name"]
        assert route["spec"]["rules"][0]["backendRefs"][0]["port"] == 9000
        assert grants[namespace]["spec"]["to"] == [{"group": "", "kind": "Secret", "name": f"{tenant['name']}-tls"}]
    for manifest in objects(plan, "Gateway") + objects(plan, "HTTPRoute") + objects(plan, "ReferenceGrant"):
        assert has_crd_schema(manifest["apiVersion"], manifest["kind"])
        assert validate_custom(manifest) == [], manifest["kind"]


def test_gateway_api_in_the_existing_stack(plans: dict[str, Plan]) -> None:
    _gateway_checks(plans["existing"], stack_config("existing"))


def test_gateway_api_variant_of_a_cloud_stack_validates(tmp_path: Path) -> None:
    def to_gateway(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["ingress"] = {"kind": "gateway-api", "gateway_class_name": "cilium"}

    plan = render_variant(tmp_path, "tanzu", to_gateway)
    config = stack_config("tanzu")
    config["ingress"] = {"kind": "gateway-api", "gateway_class_name": "cilium"}
    _gateway_checks(plan, config)
    for manifest in kubernetes_objects(plan):
        if manifest["apiVersion"] in ("v1", "networking.k8s.io/v1"):
            validate_builtin(manifest, "1.31")


def _invalid(stack: str, **changes: Any) -> str:
    config = stack_config(stack)
    for key, value in changes.items():
        config[key] = value
    with pytest.raises(ValidationError) as error:
        PlatformConfig.model_validate(config)
    return str(error.value)


def test_way_in_config_errors_name_their_fields() -> None:
    assert "ingress.gateway_class_name is required" in _invalid("eks", ingress={"kind": "gateway-api"})
    assert "ingress.aws_load_balancer_controller applies to cluster.cloud 'eks' only" in _invalid(
        "ack", ingress={"kind": "ingress-nginx", "aws_load_balancer_controller": True})
    assert "ingress.internal_subnet_id is required" in _invalid("tke", ingress={"kind": "ingress-nginx"})
    tenants = stack_config("eks")["tenants"]
    tenants[1]["hosts"] = list(tenants[0]["hosts"])
    assert "tenants[backups].hosts" in _invalid("eks", tenants=tenants)
    tenants = stack_config("eks")["tenants"]
    tenants[0]["hosts"] = ["*.s3.example.com"]
    assert "is not a host name" in _invalid("eks", tenants=tenants)
    assert "network.ingress_controller_namespace" in _invalid(
        "eks", network={"ingress_controller_namespace": None})


def test_eks_with_the_load_balancer_controller_annotations() -> None:
    from rustfs_component.clouds.eks import CLOUD
    from rustfs_component.config.ingress import IngressConfig

    assert CLOUD.ingress_service_annotations(IngressConfig(kind="ingress-nginx", aws_load_balancer_controller=True)) == {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
