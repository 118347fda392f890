"""Providers are the caller's to choose: a separate Pulumi program passes its own providers and every resource of
that package uses them, with no provider of the component's own beside them. The Kubernetes provider of a cluster
the component creates has a stable `clusterIdentifier`, so a new endpoint, CA or token replaces nothing. TKE's
API endpoint is the intranet one unless `api_allowed_cidrs` opens the public one."""

from __future__ import annotations

import base64
import importlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from component_support import REPO, render_variant

from rustfs_component.plan import Plan, diff_plans, render
from rustfs_component.plan.mocks import PlanMocks, fake_kubeconfig
from rustfs_component.plan.render import load_stack_config, render_stack

PROGRAM = '''
import pulumi
{imports}
from rustfs_component import ObjectStoragePlatform, PlatformConfig

config = pulumi.Config()
platform_config = PlatformConfig.model_validate(config.require_object("platform"))
{provider}
ObjectStoragePlatform(platform_config.name, platform_config,
                      cold_tier_secret_access_key=config.get_secret("coldTierSecretAccessKey"),
                      opts={opts})
'''

PARENT = '''
class Storage(pulumi.ComponentResource):  # the caller's own component, whose providers its children inherit
    def __init__(self, name, opts):
        super().__init__("acme:index:Storage", name, None, opts)
'''


def render_program(tmp_path: Path, stack: str, *, imports: str, provider: str, opts: str) -> Plan:
    """Render a separate program (not the repository's `__main__.py`) with `stack`'s config."""
    program = tmp_path / "__main__.py"
    program.write_text(PROGRAM.format(imports=imports, provider=textwrap.dedent(provider), opts=opts))
    config, secret_keys = load_stack_config(REPO / "stacks" / f"Pulumi.{stack}.yaml", "rustfs-platform")
    return render(program, stack, config, secret_keys)


def provider_urn(plan: Plan, type_: str, name: str) -> str:
    [provider] = plan.find(type_, name)
    return provider.urn


def users_of(plan: Plan, package: str) -> dict[str, str]:
    """{urn: provider urn} of every resource of `package` (reads included), providers themselves excluded."""
    return {r.urn: r.provider for r in plan.registrations if r.type.startswith(f"{package}:")}


def test_an_assume_role_aws_provider_is_used_for_every_aws_resource(tmp_path: Path) -> None:
    plan = render_program(tmp_path, "eks", imports="import pulumi_aws as aws", provider="""
        mine = aws.Provider("assume-role", region="eu-west-1",
                            assume_roles=[{"role_arn": "arn:aws:iam::210987654321:role/deployer"}])
        """, opts="pulumi.ResourceOptions(providers=[mine])")
    mine = provider_urn(plan, "pulumi:providers:aws", "assume-role")
    used = users_of(plan, "aws")
    assert len(used) > 30 and set(used.values()) == {mine}
    assert [r.name for r in plan.find("pulumi:providers:aws")] == ["assume-role"]  # the component made none
    # The in-cluster objects still go to the cluster the component created.
    assert {p.rsplit("::", 1)[1] for p in users_of(plan, "kubernetes").values()} == {"rustfs-eks-k8s"}


def test_an_alicloud_provider_an_ancestor_was_given_is_inherited(tmp_path: Path) -> None:
    plan = render_program(tmp_path, "ack", imports="import pulumi_alicloud as alicloud\n" + PARENT, provider="""
        mine = alicloud.Provider("other-account", region="cn-hangzhou", assume_role={
            "role_arn": "acs:ram::1234567890123456:role/deployer"})
        storage = Storage("storage", pulumi.ResourceOptions(providers={"alicloud": mine}))
        """, opts="pulumi.ResourceOptions(parent=storage)")
    mine = provider_urn(plan, "pulumi:providers:alicloud", "other-account")
    used = users_of(plan, "alicloud")
    assert len(used) > 10 and set(used.values()) == {mine}
    assert [r.name for r in plan.find("pulumi:providers:alicloud")] == ["other-account"]


def test_a_tencentcloud_provider_given_as_provider_is_used(tmp_path: Path) -> None:
    plan = render_program(tmp_path, "tke", imports="import tencentcloud_iac_pulumi as tencentcloud", provider="""
        mine = tencentcloud.Provider("mine", region="ap-guangzhou")
        """, opts="pulumi.ResourceOptions(provider=mine)")
    mine = provider_urn(plan, "pulumi:providers:tencentcloud", "mine")
    used = users_of(plan, "tencentcloud")
    assert len(used) > 10 and set(used.values()) == {mine}
    assert [r.name for r in plan.find("pulumi:providers:tencentcloud")] == ["mine"]


def test_a_kubernetes_provider_for_an_existing_cluster_is_used_for_every_object(tmp_path: Path) -> None:
    plan = render_program(tmp_path, "existing", imports="import pulumi_kubernetes as k8s", provider="""
        mine = k8s.Provider("platform-cluster", kubeconfig=config.get_secret("kubeconfig") or "{}")
        """, opts="pulumi.ResourceOptions(providers=[mine])")
    mine = provider_urn(plan, "pulumi:providers:kubernetes", "platform-cluster")
    used = users_of(plan, "kubernetes")
    assert len(used) > 20 and set(used.values()) == {mine}
    # No provider reading the ambient kubeconfig (context "storage-lab" of the stack) was created.
    assert [r.name for r in plan.find("pulumi:providers:kubernetes")] == ["platform-cluster"]


def test_a_kubernetes_provider_on_tanzu_is_the_supervisors(tmp_path: Path) -> None:
    plan = render_program(tmp_path, "tanzu", imports="import pulumi_kubernetes as k8s", provider="""
        mine = k8s.Provider("supervisor", kubeconfig="{}", namespace="storage-ns")
        """, opts="pulumi.ResourceOptions(providers=[mine])")
    mine = provider_urn(plan, "pulumi:providers:kubernetes", "supervisor")
    on_supervisor = {r.name for r in plan.registrations if r.provider == mine}
    assert on_supervisor == {"rustfs-tanzu-cluster", "rustfs-tanzu-kubeconfig"}
    assert sorted(r.name for r in plan.find("pulumi:providers:kubernetes")) == ["rustfs-tanzu-k8s", "supervisor"]
    guest = provider_urn(plan, "pulumi:providers:kubernetes", "rustfs-tanzu-k8s")
    assert set(users_of(plan, "kubernetes").values()) == {mine, guest}


@pytest.mark.parametrize("opts", ["pulumi.ResourceOptions(providers=[mine])", "pulumi.ResourceOptions(provider=mine)"])
def test_a_kubernetes_provider_for_a_cluster_the_component_creates_is_refused(tmp_path: Path, opts: str) -> None:
    with pytest.raises(Exception, match=r"cannot reach the cluster that cluster.cloud 'ack' creates"):
        render_program(tmp_path, "ack", imports="import pulumi_kubernetes as k8s", provider="""
            mine = k8s.Provider("elsewhere", kubeconfig="{}")
            """, opts=opts)


class MovedClusterMocks(PlanMocks):
    """The same clusters, reached differently: a new API endpoint and a rotated CA (EKS), a kubeconfig with
    another server, CA and token (ACK's credential, TKE's endpoint, the Tanzu kubeconfig Secret)."""

    def new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        if args.typ == "aws:eks/cluster:Cluster":
            state["endpoint"] = "https://moved.gr7.offline-1.eks.amazonaws.com"
            state["certificateAuthority"] = {"data": base64.b64encode(b"rotated CA").decode()}
        elif args.typ == "tencentcloud:Kubernetes/clusterEndpoint:ClusterEndpoint":
            state["kubeConfig"] = state["kubeConfigIntranet"] = fake_kubeconfig(f"{args.name}-moved")
        elif args.typ == "kubernetes:core/v1:Secret" and args.resource_id:
            moved = fake_kubeconfig(args.name.removesuffix("-kubeconfig") + "-moved")
            state["data"] = {"value": base64.b64encode(moved.encode()).decode()}
        return resource_id, state

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        result, failures = super().call(args)
        if args.token == "alicloud:cs/getClusterCredential:getClusterCredential":
            result["kubeConfig"] = fake_kubeconfig(f"{result['clusterId']}-moved")
        return result, failures


@pytest.mark.parametrize("stack", ["eks", "ack", "tke", "tanzu"])
def test_a_moved_endpoint_or_rotated_ca_replaces_nothing_in_the_cluster(
        plans: dict[str, Plan], stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("rustfs_component.plan.render"), "PlanMocks", MovedClusterMocks)
    before, after = plans[stack], render_stack(stack, REPO)
    [old], [new] = (plan.find("pulumi:providers:kubernetes", f"rustfs-{stack}-k8s") for plan in (before, after))
    old_inputs, new_inputs = before.raw_inputs(old.urn), after.raw_inputs(new.urn)
    assert old_inputs["kubeconfig"] != new_inputs["kubeconfig"]  # the change under test did happen
    # pulumi-kubernetes replaces a provider with a clusterIdentifier only when that changes (DiffConfig).
    assert old_inputs.get("clusterIdentifier") and old_inputs["clusterIdentifier"] == new_inputs["clusterIdentifier"]
    diff = diff_plans(json.loads(before.to_json()), json.loads(after.to_json()))
    in_cluster = {r.urn for r in after.registrations if r.type.startswith("kubernetes:")}
    assert not in_cluster & (set(diff.replaced) | set(diff.changed) | set(diff.added) | set(diff.removed))


def _without_api_cidrs(config: dict[str, Any]) -> None:
    config["rustfs-platform:platform"]["cluster"]["api_allowed_cidrs"] = []


def test_tke_api_endpoint_is_intranet_unless_api_cidrs_open_the_public_one(
        tmp_path: Path, plans: dict[str, Plan]) -> None:
    # api_allowed_cidrs: []: the intranet endpoint in the first node subnet, no security group.
    plan = render_variant(tmp_path, "tke", _without_api_cidrs)
    [endpoint] = plan.find("tencentcloud:Kubernetes/clusterEndpoint:ClusterEndpoint")
    inputs = plan.raw_inputs(endpoint.urn)
    assert inputs.get("clusterIntranet") is True and not inputs.get("clusterInternet")
    [first_subnet] = [r for r in plan.find("tencentcloud:Subnet/instance:Instance")
                      if r.inputs.get("availabilityZone") == "ap-guangzhou-6" and not r.name.endswith("-nat")]
    assert inputs["clusterIntranetSubnetId"] == first_subnet.outputs["id"]
    assert plan.find("tencentcloud:Security/group:Group") == []
    [provider] = plan.find("pulumi:providers:kubernetes", "rustfs-tke-k8s")
    assert plan.raw_inputs(provider.urn)["kubeconfig"] == endpoint.outputs["kubeConfigIntranet"]

    # The stack's api_allowed_cidrs: the public endpoint, its security group admitting exactly those.
    plan = plans["tke"]
    [endpoint] = plan.find("tencentcloud:Kubernetes/clusterEndpoint:ClusterEndpoint")
    inputs = plan.raw_inputs(endpoint.urn)
    assert inputs.get("clusterInternet") is True and not inputs.get("clusterIntranet")
    [group] = plan.find("tencentcloud:Security/group:Group")
    assert inputs["clusterInternetSecurityGroup"] == group.outputs["id"]
    [rules] = plan.find("tencentcloud:Security/groupRuleSet:GroupRuleSet")
    assert [rule["cidrBlock"] for rule in plan.raw_inputs(rules.urn)["ingresses"]] == ["198.51.100.0/24"]
    [provider] = plan.find("pulumi:providers:kubernetes", "rustfs-tke-k8s")
    assert plan.raw_inputs(provider.urn)["kubeconfig"] == endpoint.outputs["kubeConfig"]
