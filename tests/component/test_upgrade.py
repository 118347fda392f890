"""Upgrading from a previous release replaces nothing that holds data, identity or credentials.

Each release's stack files (tests/component/upgrade/<release>/stacks/) are rendered with today's program and
component, and diffed with the replacement-aware `plan.diff_plans` against the plans that release produced
(tests/component/upgrade/<release>/plans/, made by make_fixture.sh). A resource the diff marks replaced (a
force-new input changed, or its URN changed without an alias naming the old one) or deleted fails the test if
it holds data or identity. What docs/UPGRADE.md tells a user to expect is listed here, and nothing else passes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import REPO, render_variant
from pydantic import ValidationError

from rustfs_component.config import PlatformConfig
from rustfs_component.plan import Plan, diff_plans, render_stack
from rustfs_component.plan.diff import PlanDiff

UPGRADE = REPO / "tests" / "component" / "upgrade"
RELEASES = sorted(p.name for p in UPGRADE.iterdir() if p.is_dir() and (p / "plans").is_dir())
CASES = [(release, p.stem) for release in RELEASES for p in sorted((UPGRADE / release / "plans").glob("*.json"))]
PLATFORM_KEY = "rustfs-platform:platform"

# What must survive an upgrade: clusters and their node pools, VPCs, buckets, cloud identities and their keys,
# generated credentials, StorageClasses, Namespaces, Secrets, and StatefulSets with volume claim templates.
PROTECTED_TYPES = frozenset({
    "aws:eks/cluster:Cluster", "alicloud:cs/managedKubernetes:ManagedKubernetes",
    "tencentcloud:Kubernetes/cluster:Cluster", "kubernetes:cluster.x-k8s.io/v1beta1:Cluster",
    "kubernetes:run.tanzu.vmware.com/v1alpha3:TanzuKubernetesCluster",
    "aws:eks/nodeGroup:NodeGroup", "alicloud:cs/nodePool:NodePool", "tencentcloud:Kubernetes/nodePool:NodePool",
    "aws:ec2/vpc:Vpc", "alicloud:vpc/network:Network", "tencentcloud:Vpc/instance:Instance",
    "aws:s3/bucket:Bucket", "alicloud:oss/bucket:Bucket", "tencentcloud:Cos/bucket:Bucket",
    "aws:iam/role:Role", "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "alicloud:ram/user:User",
    "alicloud:ram/accessKey:AccessKey", "tencentcloud:Cam/user:User",
    "random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString",
    "kubernetes:storage.k8s.io/v1:StorageClass", "kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret",
})
STATEFULSET = "kubernetes:apps/v1:StatefulSet"

# docs/UPGRADE.md, "From v0.1.0": EKS node groups move from a fixed name to a name prefix, which replaces each
# group once (create-before-delete), unless the stack lists its pools in `fixed_node_group_names`.
EXPECTED: dict[tuple[str, str], dict[str, set[str]]] = {
    ("v0.1.0", "eks"): {"aws:eks/nodeGroup:NodeGroup": {"nodeGroupName", "nodeGroupNamePrefix"}},
}
# The settings docs/UPGRADE.md gives to keep everything as the release made it.
KEEP_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    ("v0.1.0", "eks"): {"fixed_node_group_names": ["hot", "warm"]},
}


def _protected(row: dict[str, Any]) -> bool:
    if row["type"] == STATEFULSET:
        return bool(row["inputs"].get("spec", {}).get("volumeClaimTemplates"))
    return row["type"] in PROTECTED_TYPES


def _render_release_stack(tmp_path: Path, release: str, stack: str, settings: dict[str, Any] | None = None) -> Plan:
    """Today's program with the release's stack file (plus `settings` merged into its `cluster`)."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir(exist_ok=True)
    document = yaml.safe_load((UPGRADE / release / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    if settings:
        document["config"][PLATFORM_KEY]["cluster"].update(settings)
    (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    return render_stack(stack, tmp_path)


def _old_plan(release: str, stack: str) -> dict[str, Any]:
    plan: dict[str, Any] = json.loads((UPGRADE / release / "plans" / f"{stack}.json").read_text())
    return plan


def _losses(old: dict[str, Any], diff: PlanDiff) -> dict[str, list[str]]:
    """{urn: why} of every protected resource the upgrade replaces or deletes."""
    before = {row["urn"]: row for row in old["resources"]}
    losses = {urn: ["deleted"] for urn in diff.removed if _protected(before[urn])}
    for urn, forcing in diff.replaced.items():
        old_row = before[diff.moved.get(urn, urn)]
        if _protected(old_row):
            losses[urn] = forcing
    return losses


@pytest.fixture(scope="module")
def upgrades(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[dict[str, Any], PlanDiff]]:
    """(release, stack) -> (the release's plan, its diff to today's render of the release's stack file)."""
    out: dict[tuple[str, str], tuple[dict[str, Any], PlanDiff]] = {}
    for release, stack in CASES:
        old = _old_plan(release, stack)
        new = _render_release_stack(tmp_path_factory.mktemp(f"{release}-{stack}"), release, stack)
        out[release, stack] = (old, diff_plans(old, json.loads(new.to_json())))
    return out


def test_every_release_fixture_has_plans_for_its_stack_files() -> None:
    assert RELEASES, "no release fixtures under tests/component/upgrade/"
    for release in RELEASES:
        stacks = {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (UPGRADE / release / "stacks").glob("*.yaml")}
        assert stacks == {p.stem for p in (UPGRADE / release / "plans").glob("*.json")}, release


def test_the_protected_kinds_occur_in_the_release_plans() -> None:
    """The check below is not vacuous: every cloud's cluster, node pools, bucket and identities are in a fixture."""
    seen = {row["type"] for release, stack in CASES for row in _old_plan(release, stack)["resources"] if _protected(row)}
    missing = PROTECTED_TYPES - seen - {"kubernetes:run.tanzu.vmware.com/v1alpha3:TanzuKubernetesCluster"}
    assert not missing and STATEFULSET in seen, missing


@pytest.mark.parametrize(("release", "stack"), CASES)
def test_upgrading_replaces_or_deletes_nothing_that_holds_data(
        upgrades: dict[tuple[str, str], tuple[dict[str, Any], PlanDiff]], release: str, stack: str) -> None:
    old, diff = upgrades[release, stack]
    expected = EXPECTED.get((release, stack), {})
    types = {row["urn"]: row["type"] for row in old["resources"]}
    unexpected = {urn: why for urn, why in _losses(old, diff).items()
                  if not set(why) <= expected.get(types[diff.moved.get(urn, urn)], set())}
    assert not unexpected, f"upgrading {stack} from {release} replaces or deletes: {json.dumps(unexpected, indent=1)}"


@pytest.mark.parametrize(("release", "stack"), sorted(EXPECTED))
def test_what_docs_upgrade_says_is_replaced_is_what_is_replaced(
        upgrades: dict[tuple[str, str], tuple[dict[str, Any], PlanDiff]], release: str, stack: str) -> None:
    old, diff = upgrades[release, stack]
    types = {row["urn"]: row["type"] for row in old["resources"]}
    replaced = {types[diff.moved.get(urn, urn)] for urn in _losses(old, diff)}
    assert replaced == set(EXPECTED[release, stack])
    doc = (REPO / "docs" / "UPGRADE.md").read_text()
    assert f"## From {release}" in doc and all(key in doc for key in KEEP_SETTINGS[release, stack])


@pytest.mark.parametrize(("release", "stack"), sorted(KEEP_SETTINGS))
def test_with_the_documented_settings_an_upgrade_replaces_nothing(tmp_path: Path, release: str, stack: str) -> None:
    old = _old_plan(release, stack)
    new = _render_release_stack(tmp_path, release, stack, KEEP_SETTINGS[release, stack])
    diff = diff_plans(old, json.loads(new.to_json()))
    assert not diff.replaced and not diff.removed, (diff.replaced, diff.removed)


# ---- EKS node groups: replaceable without a name clash -------------------------------------------------------

def _node_group(plan: dict[str, Any], pool: str) -> dict[str, Any]:
    [row] = [r for r in plan["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup" and r["name"].endswith(f"-{pool}")]
    return row


def test_a_replaced_node_group_gets_a_name_that_cannot_clash_with_the_old_one(plans: dict[str, Plan], tmp_path: Path) -> None:
    def bigger(config: dict[str, Any]) -> None:
        config[PLATFORM_KEY]["cluster"]["node_pools"][1]["instance_type"] = "m7i.2xlarge"

    old = json.loads(plans["eks"].to_json())
    new = json.loads(render_variant(tmp_path, "eks", bigger).to_json())
    group = _node_group(new, "warm")
    assert diff_plans(old, new).replaced == {group["urn"]: ["instanceTypes"]}
    # Create-before-delete: the provider names the new group `<prefix><26 digits>` while the old one still
    # exists, so no fixed name is asked for twice.
    inputs = group["inputs"]
    assert "nodeGroupName" not in inputs and inputs["nodeGroupNamePrefix"] == "rustfs-eks-warm-"
    assert _node_group(old, "warm")["inputs"].get("nodeGroupName") is None


def test_fixed_node_group_names_keep_a_v010_group_and_must_name_node_pools() -> None:
    stack = yaml.safe_load((UPGRADE / "v0.1.0" / "stacks" / "Pulumi.eks.yaml").read_text())["config"][PLATFORM_KEY]
    stack["cluster"]["fixed_node_group_names"] = ["hot", "cold"]
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(stack)
    assert [(".".join(map(str, e["loc"])), "cold" in e["msg"]) for e in caught.value.errors()] == [
        ("cluster.eks.fixed_node_group_names", True)]


@pytest.mark.parametrize(("fixed", "refused"), [([], True), (["hot"], False)])
def test_a_prefixed_node_group_name_leaves_room_for_the_generated_suffix(fixed: list[str], refused: bool) -> None:
    # `rustfs-eks-` + 26-character pool + `-` + 26 generated digits is 64 > 63; the fixed name is 37.
    stack = yaml.safe_load((UPGRADE / "v0.1.0" / "stacks" / "Pulumi.eks.yaml").read_text())["config"][PLATFORM_KEY]
    stack["cluster"]["node_pools"][0]["name"] = "hot" + "h" * 23
    stack["cluster"]["fixed_node_group_names"] = ["hot" + "h" * 23] if fixed else []
    if not refused:
        PlatformConfig.model_validate(stack)
        return
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(stack)
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}
    assert "limit of 63" in errors["cluster.eks.node_pools.0.name"]
