"""The offline plans tell the truth: the mocks return every output the program reads, under the type
tokens the SDKs really register, so no null or empty value reaches a rendered input."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import STACKS

from rustfs_component.plan import Plan

# The outputs the program reads back, per type token: `SDK class`, then paths into the provider's state
# (camelCase wire names; `a.b` into an object, `a[0]` into a list). Each is an output the real provider
# returns (a property of the SDK class), so a plan without it hides a null the real deployment never sees.
READS: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws:eks/cluster:Cluster": ("pulumi_aws.eks.Cluster", (
        "id", "name", "arn", "endpoint", "certificateAuthority.data", "identities[0].oidcs[0].issuer",
        "createdAt")),  # createdAt: with the ARN, the Kubernetes provider's clusterIdentifier
    "aws:eks/nodeGroup:NodeGroup": ("pulumi_aws.eks.NodeGroup", ("id", "arn", "nodeGroupName")),
    "aws:iam/role:Role": ("pulumi_aws.iam.Role", ("id", "name", "arn")),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("pulumi_aws.iam.OpenIdConnectProvider", ("arn", "url")),
    "aws:ec2/vpc:Vpc": ("pulumi_aws.ec2.Vpc", ("id",)),
    "aws:ec2/subnet:Subnet": ("pulumi_aws.ec2.Subnet", ("id",)),
    "aws:ec2/eip:Eip": ("pulumi_aws.ec2.Eip", ("id",)),
    "aws:ec2/natGateway:NatGateway": ("pulumi_aws.ec2.NatGateway", ("id",)),
    "aws:s3/bucket:Bucket": ("pulumi_aws.s3.Bucket", ("id", "bucket", "arn")),
    "random:index/randomString:RandomString": ("pulumi_random.RandomString", ("result",)),
    "random:index/randomPassword:RandomPassword": ("pulumi_random.RandomPassword", ("result",)),
    "alicloud:vpc/network:Network": ("pulumi_alicloud.vpc.Network", ("id",)),
    "alicloud:cs/managedKubernetes:ManagedKubernetes": ("pulumi_alicloud.cs.ManagedKubernetes", ("id",)),
    "alicloud:oss/bucket:Bucket": ("pulumi_alicloud.oss.Bucket", ("bucket",)),
    "alicloud:ram/user:User": ("pulumi_alicloud.ram.User", ("name",)),
    "alicloud:ram/policy:Policy": ("pulumi_alicloud.ram.Policy", ("policyName",)),
    "alicloud:ram/accessKey:AccessKey": ("pulumi_alicloud.ram.AccessKey", ("id", "secret")),
    "tencentcloud:Vpc/instance:Instance": ("tencentcloud_iac_pulumi.vpc.Instance", ("id", "defaultRouteTableId")),
    "tencentcloud:Subnet/instance:Instance": ("tencentcloud_iac_pulumi.subnet.Instance", ("id",)),
    "tencentcloud:Eip/instance:Instance": ("tencentcloud_iac_pulumi.eip.Instance", ("publicIp",)),
    "tencentcloud:Nat/gateway:Gateway": ("tencentcloud_iac_pulumi.nat.Gateway", ("id",)),
    "tencentcloud:Kubernetes/cluster:Cluster": ("tencentcloud_iac_pulumi.kubernetes.Cluster", ("id",)),
    "tencentcloud:Kubernetes/clusterEndpoint:ClusterEndpoint": (
        "tencentcloud_iac_pulumi.kubernetes.ClusterEndpoint", ("kubeConfig", "kubeConfigIntranet")),
    "tencentcloud:Cos/bucket:Bucket": ("tencentcloud_iac_pulumi.cos.Bucket", ("bucket",)),
    "tencentcloud:Cam/user:User": ("tencentcloud_iac_pulumi.cam.User", ("name", "secretId", "secretKey")),
    "tencentcloud:Cam/policy:Policy": ("tencentcloud_iac_pulumi.cam.Policy", ("id",)),
    "kubernetes:core/v1:Secret": ("pulumi_kubernetes.core.v1.Secret", ("metadata.name",)),
}
READ_SECRET_OUTPUTS = ("data.value",)  # a Secret the program reads (the Tanzu cluster's kubeconfig)


def _sdk_class(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _get(state: Any, path: str) -> Any:
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if index:
            state = state[int(index)] if isinstance(state, list) and len(state) > int(index) else None
        else:
            state = state.get(key) if isinstance(state, dict) else None
    return state


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("token", sorted(READS))
def test_read_table_names_real_tokens_and_outputs(token: str) -> None:
    cls = _sdk_class(READS[token][0])
    source = inspect.getsource(cls)
    assert f"'{token}'" in source or f'"{token}"' in source, f"{cls.__name__} does not register {token}"
    for path in READS[token][1]:
        top = _snake(path.split(".")[0].split("[")[0])
        assert isinstance(getattr(cls, top, None), property), f"{cls.__name__} has no output {top}"


def test_every_token_the_table_names_is_registered_by_some_stack(plans: dict[str, Plan]) -> None:
    registered = {reg.type for plan in plans.values() for reg in plan.registrations}
    assert set(READS) <= registered, set(READS) - registered


@pytest.mark.parametrize("stack", STACKS)
def test_mocks_return_every_output_the_program_reads(plans: dict[str, Plan], stack: str) -> None:
    missing = []
    for reg in plans[stack].registrations:
        paths = READ_SECRET_OUTPUTS if reg.read_id and reg.type == "kubernetes:core/v1:Secret" else \
            READS.get(reg.type, ("", ()))[1]
        for path in paths:
            if _get(reg.outputs, path) in (None, "", [], {}):
                missing.append(f"{reg.type} {reg.name}: {path}")
    assert not missing, missing


def _nulls(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path or "<root>"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("stack", STACKS)
def test_no_null_reaches_a_rendered_input(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    nulls = [f"{reg.type} {reg.name}: {path}" for reg in plan.registrations
             for path in _nulls(plan.raw_inputs(reg.urn))]
    assert not nulls, nulls


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_provider_has_a_kubeconfig_or_a_context(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    for reg in plan.find("pulumi:providers:kubernetes"):
        inputs = plan.raw_inputs(reg.urn)
        if inputs.get("context") and "kubeconfig" not in inputs:
            continue  # the ambient kubeconfig's context (`existing`, the Tanzu Supervisor)
        kubeconfig = yaml.safe_load(inputs.get("kubeconfig") or "null")
        assert isinstance(kubeconfig, dict), f"{reg.name}: kubeconfig {inputs.get('kubeconfig')!r}"
        assert all(c["cluster"]["server"].startswith("https://") for c in kubeconfig["clusters"]), reg.name


@pytest.mark.parametrize("stack", STACKS)
def test_cold_tier_secrets_carry_keys_unless_the_tenant_has_a_pod_identity(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    identities = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in map(plan.raw_inputs, (
        r.urn for r in plan.find("kubernetes:core/v1:ServiceAccount")))
        if "eks.amazonaws.com/role-arn" in (m["metadata"].get("annotations") or {})}
    secrets = [plan.raw_inputs(r.urn) for r in plan.find("kubernetes:core/v1:Secret")
               if not r.read_id and r.name.endswith("-cold-tier")]
    for secret in secrets:
        meta, data = secret["metadata"], secret["stringData"]
        tenant = meta["name"].removesuffix("-cold-tier")
        if (meta["namespace"], tenant) in identities:
            continue
        assert data.get("accessKeyId") and data.get("secretAccessKey"), (meta["name"], sorted(data))
    assert json.dumps(secrets)  # rendered values are plain strings


def test_urns_carry_the_whole_parent_type_chain(plans: dict[str, Plan]) -> None:
    # As `pulumi preview` names them: every ancestor component's type joined by `$`, the root Stack left out.
    urns = {row["urn"] for row in plans["eks"].resources()}
    assert "urn:pulumi:eks::rustfs-platform::rustfs:index:ObjectStoragePlatform::rustfs" in urns
    assert ("urn:pulumi:eks::rustfs-platform::rustfs:index:ObjectStoragePlatform$rustfs:eks:Cluster"
            "$aws:eks/nodeGroup:NodeGroup::rustfs-eks-hot") in urns
    assert ("urn:pulumi:eks::rustfs-platform::rustfs:index:ObjectStoragePlatform$rustfs:index:Tenant"
            "$kubernetes:apps/v1:StatefulSet::rustfs-analytics-pool0") in urns
    for plan in plans.values():
        for row in plan.resources():
            assert "pulumi:pulumi:Stack" not in row["urn"], row["urn"]
            if row["parent"].split("::")[2] != "pulumi:pulumi:Stack":
                assert row["urn"].split("::")[2] == f"{row['parent'].split('::')[2]}${row['type']}", row["urn"]


ALIASED_PROGRAM = '''
import pulumi
import pulumi_random as random

class Box(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("test:index:Box", name, None, opts)
        random.RandomPet("pet", opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name="old-pet")]))
        random.RandomId("id", byte_length=4, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})

Box("box", opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="test:index:Crate")]))
random.RandomId("loose", byte_length=4)
'''


def test_plans_record_the_programs_aliases(tmp_path: Path) -> None:
    from rustfs_component.plan import render

    (tmp_path / "__main__.py").write_text(ALIASED_PROGRAM)
    rows = {row["name"]: row for row in render(tmp_path / "__main__.py", "dev", {}, project="p").resources()}
    prefix = "urn:pulumi:dev::p::"
    assert rows["loose"]["urn"] == f"{prefix}random:index/randomId:RandomId::loose" and "aliases" not in rows["loose"]
    assert rows["box"]["aliases"] == [f"{prefix}test:index:Crate::box"]
    assert rows["id"]["aliases"] == [f"{prefix}test:index:Crate$random:index/randomId:RandomId::id"]
    assert rows["pet"]["urn"] == f"{prefix}test:index:Box$random:index/randomPet:RandomPet::pet"
    assert set(rows["pet"]["aliases"]) == {f"{prefix}test:index:Box$random:index/randomPet:RandomPet::old-pet",
                                           f"{prefix}test:index:Crate$random:index/randomPet:RandomPet::pet"}
