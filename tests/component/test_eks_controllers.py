"""EKS controllers with an IRSA role of their own (issue 9): cert-manager solving DNS-01 in Route53, and the AWS Load
Balancer Controller in front of ingress-nginx. One eks variant with both renders once for the module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from component_support import REPO, kubernetes_objects, render_variant
from component_validation import unknown_values_keys, validate_custom, validate_helm_values
from pydantic import ValidationError

from rustfs_component.config import PlatformConfig
from rustfs_component.plan import Plan
from rustfs_component.plan.mocks import Registration
from rustfs_component.services import ingress as ingress_module

RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ZONE = "Z0123456789ABCDEFGHIJ"
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


def _controllers(config: dict[str, Any]) -> None:
    platform = config["rustfs-platform:platform"]
    platform["tls"] = {"acme": {"email": "ops@example.com", "solver": "route53", "route53_hosted_zone_id": ZONE}}
    platform["ingress"] = {**platform["ingress"], "aws_load_balancer_controller": True}


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render_variant(tmp_path_factory.mktemp("eks-controllers"), "eks", _controllers)


def _one(plan: Plan, type_: str, name: str) -> Registration:
    [found] = plan.find(type_, name)
    return found


def _release(plan: Plan, name: str) -> dict[str, Any]:
    return plan.raw_inputs(_one(plan, RELEASE, name).urn)


def _trust(plan: Plan, role: str) -> dict[str, Any]:
    return json.loads(plan.raw_inputs(_one(plan, ROLE, role).urn)["assumeRolePolicy"])


def _subjects(trust: dict[str, Any]) -> list[str]:
    [statement] = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].startswith("arn:aws:iam::")
    conditions = statement["Condition"]["StringEquals"]
    [sub] = [v for k, v in conditions.items() if k.endswith(":sub")]
    [aud] = [v for k, v in conditions.items() if k.endswith(":aud")]
    assert aud == "sts.amazonaws.com"
    return sub


def _role_arn(plan: Plan, role: str) -> str:
    return plan.find(ROLE, role)[0].outputs["arn"]


def _policy(plan: Plan, name: str) -> dict[str, Any]:
    return json.loads(plan.raw_inputs(_one(plan, ROLE_POLICY, name).urn)["policy"])


def _depends_on(plan: Plan, urn: str, target: str) -> bool:
    deps = {r.urn: r.dependencies for r in plan.registrations}
    seen: set[str] = set()
    todo = [urn]
    while todo:
        current = todo.pop()
        if current == target:
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(deps.get(current, []))
    return False


# --- cert-manager, DNS-01 in Route53 -------------------------------------------------------------------------------

def test_route53_role_trusts_exactly_cert_managers_service_account(plan: Plan) -> None:
    assert _subjects(_trust(plan, "rustfs-route53-role")) == ["system:serviceaccount:cert-manager:cert-manager"]


def test_route53_policy_is_cert_managers_documented_one_on_the_zone(plan: Plan) -> None:
    statements = _policy(plan, "rustfs-route53-role")["Statement"]
    by_action = {json.dumps(s["Action"]): s for s in statements}
    assert by_action['"route53:GetChange"']["Resource"] == "arn:aws:route53:::change/*"
    records = by_action['["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"]']
    assert records["Resource"] == f"arn:aws:route53:::hostedzone/{ZONE}"
    assert by_action['"route53:ListHostedZonesByName"']["Resource"] == "*"
    assert len(statements) == 3


def test_cert_manager_service_account_carries_the_role_and_the_values_validate(plan: Plan,
                                                                             plans: dict[str, Plan]) -> None:
    values = _release(plan, "rustfs-cert-manager-release")["values"]
    assert values["serviceAccount"]["name"] == "cert-manager"
    assert values["serviceAccount"]["annotations"] == {ROLE_ANNOTATION: _role_arn(plan, "rustfs-route53-role")}
    assert validate_helm_values("cert-manager", values) == []
    # The annotation resolves only once the policy is attached: the release waits for both.
    release = _one(plan, RELEASE, "rustfs-cert-manager-release").urn
    assert _depends_on(plan, release, _one(plan, ROLE_POLICY, "rustfs-route53-role").urn)
    # Without Route53 nor the LBC (the eks stack as it is): no controller role, no annotation, no LBC.
    plain = plans["eks"]
    assert plain.find(ROLE, "rustfs-route53-role") == [] and plain.find(ROLE, "rustfs-lbc-role") == []
    assert "serviceAccount" not in _release(plain, "rustfs-cert-manager-release")["values"]
    assert plain.find(RELEASE, "rustfs-ingress-lbc") == []


def test_route53_solver_names_its_zone_and_region(plan: Plan) -> None:
    [issuer] = [o for o in kubernetes_objects(plan) if o["kind"] == "ClusterIssuer"
                and o["metadata"]["name"] == "rustfs-acme"]
    [solver] = issuer["spec"]["acme"]["solvers"]
    assert solver["dns01"]["route53"] == {"hostedZoneID": ZONE, "region": "eu-central-1"}
    assert validate_custom(issuer) == []


# --- AWS Load Balancer Controller ----------------------------------------------------------------------------------

def test_lbc_release_is_pinned_with_the_clusters_facts(plan: Plan) -> None:
    pinned = {v["chart"]: v for v in json.loads((REPO.parent / "shared/schemas/helm/versions.json").read_text())}
    pin = pinned["aws-load-balancer-controller"]
    inputs = _release(plan, "rustfs-ingress-lbc")
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"], inputs["namespace"]) == (
        pin["chart"], pin["chartVersion"], pin["helmRepository"], "kube-system")
    values = inputs["values"]
    eks_cluster = plan.find("aws:eks/cluster:Cluster")[0]
    [vpc] = plan.find("aws:ec2/vpc:Vpc")
    assert values["clusterName"] == eks_cluster.outputs["name"]
    assert values["region"] == "eu-central-1"
    assert values["vpcId"] == vpc.outputs["id"]
    assert values["serviceAccount"] == {"create": True, "name": "aws-load-balancer-controller",
                                        "annotations": {ROLE_ANNOTATION: _role_arn(plan, "rustfs-lbc-role")}}
    assert unknown_values_keys("aws-load-balancer-controller", values) == []


def test_lbc_role_trusts_exactly_its_service_account_with_the_documented_policy(plan: Plan) -> None:
    assert _subjects(_trust(plan, "rustfs-lbc-role")) == ["system:serviceaccount:kube-system:aws-load-balancer-controller"]
    policy = _policy(plan, "rustfs-lbc-role")
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:DeleteLoadBalancer",
            "elasticloadbalancing:RegisterTargets", "ec2:CreateSecurityGroup", "ec2:DescribeSubnets",
            "elasticloadbalancing:DescribeListenerAttributes", "iam:CreateServiceLinkedRole"} <= actions


def test_ingress_nginx_service_depends_on_the_lbc(plan: Plan) -> None:
    service = plan.find("kubernetes:core/v1:Service", "rustfs-ingress-lb")[0].urn
    lbc = _one(plan, RELEASE, "rustfs-ingress-lbc").urn
    assert lbc in {d for r in plan.registrations if r.urn == service for d in r.dependencies}
    # Its NLB is the LBC's (annotations), and the LBC starts with its permissions attached.
    annotations = plan.raw_inputs(service)["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert _depends_on(plan, lbc, _one(plan, ROLE_POLICY, "rustfs-lbc-role").urn)


def test_lbc_values_keys_exist_in_the_chart() -> None:
    values = ingress_module.load_balancer_controller_values(
        {"clusterName": "c", "region": "r", "vpcId": "vpc-1"}, {ROLE_ANNOTATION: "arn"})
    assert unknown_values_keys("aws-load-balancer-controller", values) == []
    assert unknown_values_keys("aws-load-balancer-controller", {"clusterNmae": "c"})  # the check can fail


def test_lbc_policy_in_other_partitions() -> None:
    from rustfs_component.clouds.eks import load_balancer_controller_policy

    china = load_balancer_controller_policy("aws-cn")
    assert "arn:aws-cn:elasticloadbalancing" in china and '"arn:aws:' not in china


# --- config ----------------------------------------------------------------------------------------------------------

def test_route53_is_refused_off_eks() -> None:
    import yaml

    document = yaml.safe_load((REPO / "stacks" / "Pulumi.ack.yaml").read_text())
    config = document["config"]["rustfs-platform:platform"]
    config["tls"] = {"acme": {"email": "ops@example.com", "solver": "route53", "route53_hosted_zone_id": ZONE}}
    with pytest.raises(ValidationError) as error:
        PlatformConfig.model_validate(config)
    assert "tls.acme.solver 'route53' applies to cluster.cloud 'eks' only, not 'ack'" in str(error.value)


def test_roles_are_the_platforms_children_with_the_clusters_aws_provider(plan: Plan) -> None:
    [provider] = plan.find("pulumi:providers:aws")
    for name in ("rustfs-route53-role", "rustfs-lbc-role"):
        for registration in (_one(plan, ROLE, name), _one(plan, ROLE_POLICY, name)):
            assert registration.parent.endswith("rustfs:index:ObjectStoragePlatform::rustfs")
            assert registration.provider.startswith(provider.urn)


def test_an_adopted_cert_manager_gets_no_role_but_the_solver_keeps_its_region(tmp_path: Path) -> None:
    def adopted(config: dict[str, Any]) -> None:
        _controllers(config)
        config["rustfs-platform:platform"]["tls"]["cert_manager"] = "existing"

    plan = render_variant(tmp_path, "eks", adopted)
    assert plan.find(ROLE, "rustfs-route53-role") == [] and plan.find(RELEASE, "rustfs-cert-manager-release") == []
    [issuer] = [o for o in kubernetes_objects(plan) if o["kind"] == "ClusterIssuer"
                and o["metadata"]["name"] == "rustfs-acme"]
    assert issuer["spec"]["acme"]["solvers"][0]["dns01"]["route53"]["region"] == "eu-central-1"
