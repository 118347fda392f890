"""The offline diff reports a real change: added, removed and changed resources with their fields."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import REPO, render_variant

from rustfs_component.plan import Plan, diff_plans, format_diff, render_stack
from rustfs_component.plan.__main__ import main, tree


def test_diff_of_a_real_change(plans: dict[str, Plan], tmp_path: Path) -> None:
    # A copy of the project whose `existing` stack grows tenant "dev" and drops tenant "ci".
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir()
    stack = yaml.safe_load((REPO / "stacks" / "Pulumi.existing.yaml").read_text())
    platform = stack["config"]["rustfs-platform:platform"]
    platform["tenants"][0]["pools"][0]["drive_size"] = "40Gi"
    platform["tenants"] = platform["tenants"][:1] + [
        {"name": "qa", "pools": [{"name": "pool0", "servers": 1, "drives_per_server": 1, "tier": "hot"}]}]
    (tmp_path / "stacks" / "Pulumi.existing.yaml").write_text(yaml.safe_dump(stack))

    old = json.loads(plans["existing"].to_json())
    new = json.loads(render_stack("existing", tmp_path).to_json())
    diff = diff_plans(old, new)
    assert any(urn.endswith("::rustfs-qa") for urn in diff.added)
    assert any(urn.endswith("::rustfs-ci-pool0") for urn in diff.removed)
    [(sts_urn, changes)] = [(u, c) for u, c in diff.changed.items() if u.endswith("StatefulSet::rustfs-dev-pool0")]
    assert ("inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage", "20Gi", "40Gi") in changes
    text = format_diff(diff)
    assert diff.replaced[sts_urn] == ["spec.volumeClaimTemplates"]
    assert f"+- {sts_urn} (replace: spec.volumeClaimTemplates)" in text and '"20Gi" => "40Gi"' in text
    # The vault-configure Job and its script are named by the script's hash: a changed tenant list re-runs the Job.
    assert sorted(u.rsplit("::", 1)[1] for u in diff.replaced if u != sts_urn) == [
        "rustfs-vault-configure-job", "rustfs-vault-configure-script"]
    assert " to change, 3 to replace, " in text.splitlines()[-1]
    assert diff_plans(old, old).empty and format_diff(diff_plans(old, old)) == "no changes\n"


def test_cli_json_diff_and_exit_code(plans: dict[str, Plan], tmp_path: Path, capsys: object) -> None:
    snapshot = tmp_path / "old.json"
    assert main(["--stack", "existing", "--json", str(snapshot)]) == 0
    assert json.loads(snapshot.read_text()) == json.loads(plans["existing"].to_json())
    assert main(["--stack", "existing", "--diff", str(snapshot), "--exit-code"]) == 0
    changed = json.loads(snapshot.read_text())
    changed["resources"] = changed["resources"][1:]
    snapshot.write_text(json.dumps(changed))
    assert main(["--stack", "existing", "--diff", str(snapshot), "--exit-code"]) == 1


def test_tree_shows_parents_and_redacts_secrets(plans: dict[str, Plan]) -> None:
    text = tree(plans["eks"])
    assert "rustfs:index:ObjectStoragePlatform" in text and "[kubeconfig=[secret]" in text
    lines = text.splitlines()
    tenant = next(i for i, line in enumerate(lines) if "rustfs:index:Tenant" in line)
    assert lines[tenant + 1].startswith("      + ")  # children indented under their parent


def _invalid_eks_stack(config: dict[str, Any]) -> None:
    platform = config["rustfs-platform:platform"]
    platform["cluster"]["availability_zones"] = platform["cluster"]["availability_zones"][:1]
    platform["tenants"][0]["pools"][0]["servers"] = "four"


def _project(tmp_path: Path) -> Path:
    """A copy of the project whose eks stack has two invalid fields."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir()
    document = yaml.safe_load((REPO / "stacks" / "Pulumi.eks.yaml").read_text())
    _invalid_eks_stack(document["config"])
    (tmp_path / "stacks" / "Pulumi.eks.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


CLI_ERRORS = {
    "unknown stack": (lambda root: ["--stack", "nope", "--root", str(REPO)],
                      ["error: unknown stack 'nope'; stacks in ", "ack, eks, existing, tanzu, tke"]),
    "invalid stack file": (lambda root: ["--stack", "eks", "--root", str(root)],
                           ["error: stacks/Pulumi.eks.yaml: cluster.eks.availability_zones: List should have at least 2",
                            "error: stacks/Pulumi.eks.yaml: tenants[0].pools[0].servers: Input should be a valid integer"]),
    "missing --diff file": (lambda root: ["--stack", "existing", "--root", str(REPO), "--diff", str(root / "gone.json")],
                            ["error: --diff file '", "gone.json' does not exist"]),
}


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_cli_errors_are_one_line_each_and_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, expected = CLI_ERRORS[case]
    assert main(argv(_project(tmp_path))) == 2
    out, err = capsys.readouterr()
    assert out == "" and all(part in err for part in expected), err
    assert all(line.startswith("error: ") for line in err.splitlines()), err


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_cli_errors_through_a_process_show_no_traceback(case: str, tmp_path: Path) -> None:
    argv, expected = CLI_ERRORS[case]
    done = subprocess.run([sys.executable, "-m", "rustfs_component.plan", *argv(_project(tmp_path))],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and all(part in done.stderr for part in expected), done.stderr
    assert done.stdout == ""


def _node_groups(diff_text: str) -> dict[str, str]:
    return {line.split("::")[-1].split(" ")[0]: line for line in diff_text.splitlines()
            if "aws:eks/nodeGroup:NodeGroup::" in line}


def test_a_new_availability_zone_replaces_the_node_groups(plans: dict[str, Plan], tmp_path: Path) -> None:
    def add_zone(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["cluster"]["availability_zones"].append("eu-central-1d")

    old = json.loads(plans["eks"].to_json())
    diff = diff_plans(old, json.loads(render_variant(tmp_path, "eks", add_zone).to_json()))
    groups = {urn: fields for urn, fields in diff.replaced.items() if "aws:eks/nodeGroup:NodeGroup" in urn}
    assert len(groups) == 2 and all("subnetIds" in fields for fields in groups.values()), diff.replaced
    lines = _node_groups(format_diff(diff))
    assert lines["rustfs-eks-hot"].startswith("+- ") and "(replace: subnetIds" in lines["rustfs-eks-hot"]


def test_a_new_instance_type_replaces_that_node_group_only(plans: dict[str, Plan], tmp_path: Path) -> None:
    def bigger(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["cluster"]["node_pools"][1]["instance_type"] = "m7i.2xlarge"

    diff = diff_plans(json.loads(plans["eks"].to_json()), json.loads(render_variant(tmp_path, "eks", bigger).to_json()))
    assert [(urn.split("::")[-1], fields) for urn, fields in diff.replaced.items()] == [("rustfs-eks-warm", ["instanceTypes"])]
    text = format_diff(diff)
    assert "+- " in _node_groups(text)["rustfs-eks-warm"] and " 1 to replace, " in text.splitlines()[-1]


def test_a_new_instance_type_replaces_that_tke_node_pool_only(plans: dict[str, Plan], tmp_path: Path) -> None:
    changed: list[str] = []

    def bigger(config: dict[str, Any]) -> None:
        pool = config["rustfs-platform:platform"]["cluster"]["node_pools"][0]
        pool["instance_type"] = "SA5.4XLARGE32"
        changed.append(pool["name"])

    diff = diff_plans(json.loads(plans["tke"].to_json()), json.loads(render_variant(tmp_path, "tke", bigger).to_json()))
    pool = f"rustfs-tke-{changed[0]}"
    assert [(urn.split("::")[-1], fields) for urn, fields in diff.replaced.items()] == [
        (pool, ["autoScalingConfig.instanceType"])]


def test_a_tag_or_scaling_change_is_an_update(plans: dict[str, Plan]) -> None:
    old = json.loads(plans["eks"].to_json())
    new = json.loads(plans["eks"].to_json())
    [group] = [r for r in new["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup" and r["name"].endswith("-hot")]
    group["inputs"]["tags"] = {"team": "storage"}
    group["inputs"]["scalingConfig"]["maxSize"] = 12
    diff = diff_plans(old, new)
    assert list(diff.changed) == [group["urn"]] and not diff.replaced
    text = format_diff(diff)
    assert f"~ {group['urn']}\n" in text and text.endswith("0 to add, 1 to change, 0 to replace, 0 to delete\n")


def test_a_urn_change_replaces_unless_an_alias_names_the_old_urn(plans: dict[str, Plan]) -> None:
    old = json.loads(plans["existing"].to_json())
    new = json.loads(plans["existing"].to_json())
    [sts] = [r for r in new["resources"] if r["type"] == "kubernetes:apps/v1:StatefulSet"][:1]
    old_urn = sts["urn"]
    sts["urn"] = old_urn.replace("rustfs:index:Tenant$", "rustfs:index:Tenant$rustfs:index:Pool$")
    diff = diff_plans(old, new)
    assert diff.replaced == {sts["urn"]: ["(urn)"]} and not diff.added and not diff.removed
    assert f"+- {sts['urn']} (replace: (urn))\n    was {old_urn}\n" in format_diff(diff)
    sts["aliases"] = [old_urn]
    diff = diff_plans(old, new)
    assert diff.moved == {sts["urn"]: old_urn} and not diff.replaced and not diff.changed
    assert format_diff(diff).endswith("0 to add, 1 to change, 0 to replace, 0 to delete\n")


def test_every_provider_resource_type_of_every_plan_is_in_the_replacement_table(plans: dict[str, Plan]) -> None:
    from rustfs_component.plan.replacements import FORCE_NEW

    types = {reg.type for plan in plans.values() for reg in plan.registrations
             if reg.custom and not reg.type.startswith("pulumi:providers:")}
    assert types - set(FORCE_NEW) == set(), "classify these in plan/replacements.py"


# ---- A Kubernetes provider's replacement (pulumi-kubernetes `DiffConfig`) and what it takes with it ----------

K8S_PROVIDER = "pulumi:providers:kubernetes"


def _provider_and_plans(plans: dict[str, Plan]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The eks stack's Kubernetes provider URN, and two copies of the plan whose provider shows its kubeconfig."""
    plan = plans["eks"]
    [urn] = [reg.urn for reg in plan.find(K8S_PROVIDER)]
    kubeconfig = plan.raw_inputs(urn)["kubeconfig"]
    copies = []
    for _ in range(2):
        copy = json.loads(plan.to_json())
        [row] = [r for r in copy["resources"] if r["urn"] == urn]
        row["inputs"]["kubeconfig"] = kubeconfig
        copies.append(copy)
    return urn, copies[0], copies[1]


def _inputs(plan: dict[str, Any], urn: str) -> dict[str, Any]:
    [row] = [r for r in plan["resources"] if r["urn"] == urn]
    inputs: dict[str, Any] = row["inputs"]
    return inputs


def _move_endpoint(plan: dict[str, Any], urn: str) -> None:
    config = json.loads(_inputs(plan, urn)["kubeconfig"])
    config["clusters"][0]["cluster"]["server"] = "https://moved.example.com"
    _inputs(plan, urn)["kubeconfig"] = json.dumps(config)


def _managed_by(plan: dict[str, Any], provider: str) -> set[str]:
    return {row["urn"] for row in plan["resources"] if row["provider"] == provider}


def test_a_new_cluster_identifier_replaces_the_provider_and_everything_in_the_cluster(plans: dict[str, Plan]) -> None:
    urn, old, new = _provider_and_plans(plans)
    _inputs(new, urn)["clusterIdentifier"] = "arn:aws:eks:offline-1:123456789012:cluster/rustfs-eks@2025-06-01T00:00:00Z"
    in_cluster = _managed_by(new, urn)
    assert len(in_cluster) > 20 and all(u.split("::")[2].split("$")[-1].startswith("kubernetes:") for u in in_cluster)
    diff = diff_plans(old, new)
    assert diff.replaced[urn] == ["clusterIdentifier"]
    assert {u: f for u, f in diff.replaced.items() if u != urn} == {u: ["(provider replaced)"] for u in in_cluster}
    text = format_diff(diff)
    assert f"+- {urn} (replace: clusterIdentifier)\n" in text
    some = sorted(in_cluster)[0]
    assert f"+- {some} (replace: (provider replaced))\n" in text
    assert text.endswith(f"0 to add, 0 to change, {len(in_cluster) + 1} to replace, 0 to delete\n")


def test_a_moved_endpoint_replaces_nothing_with_an_unchanged_identifier_and_everything_without_one(
        plans: dict[str, Plan]) -> None:
    urn, old, new = _provider_and_plans(plans)
    _move_endpoint(new, urn)
    diff = diff_plans(old, new)
    assert list(diff.changed) == [urn] and [p for p, _, _ in diff.changed[urn]] == ["inputs.kubeconfig"]
    assert not diff.replaced and not diff.unseen
    assert format_diff(diff).endswith("0 to add, 1 to change, 0 to replace, 0 to delete\n")

    for plan in (old, new):  # the same change without a clusterIdentifier: the active cluster's server moved
        del _inputs(plan, urn)["clusterIdentifier"]
    diff = diff_plans(old, new)
    assert diff.replaced[urn] == ["kubeconfig"]
    assert set(diff.replaced) == {urn} | _managed_by(new, urn)


def test_adding_an_identifier_is_an_update_but_does_not_protect_that_same_update(plans: dict[str, Plan]) -> None:
    urn, old, new = _provider_and_plans(plans)
    del _inputs(old, urn)["clusterIdentifier"]  # a provider made before the identifier (v0.1.0)
    diff = diff_plans(old, new)
    assert [p for p, _, _ in diff.changed[urn]] == ["inputs.clusterIdentifier"] and not diff.replaced
    # pulumi-kubernetes: an added identifier decides nothing yet, so the kubeconfig's cluster still does.
    _move_endpoint(new, urn)
    assert diff_plans(old, new).replaced[urn] == ["kubeconfig"]


def test_a_redacted_kubeconfig_without_a_deciding_identifier_is_said_to_be_unseen(plans: dict[str, Plan]) -> None:
    old, new = json.loads(plans["eks"].to_json()), json.loads(plans["eks"].to_json())
    [urn] = [reg.urn for reg in plans["eks"].find(K8S_PROVIDER)]
    assert _inputs(old, urn)["kubeconfig"] == "[secret]"
    assert not diff_plans(old, new).unseen  # the identifier is set and unchanged: it alone decides
    del _inputs(old, urn)["clusterIdentifier"]
    diff = diff_plans(old, new)
    assert diff.unseen == {urn: len(_managed_by(new, urn))} and not diff.replaced
    assert f"? {urn} (kubeconfig changes cannot be seen offline: " in format_diff(diff)


@pytest.mark.parametrize("cidrs", [None, ["0.0.0.0/0"], []])
def test_a_v010_tke_stack_moves_its_kubeconfig_only_when_the_user_asks_for_the_intranet_endpoint(
        tmp_path: Path, cidrs: list[str] | None) -> None:
    # docs/UPGRADE.md, "TKE API endpoint": v0.1.0 defaulted to a public endpoint open to 0.0.0.0/0, and so does
    # this release: moving the endpoint in the update that adds clusterIdentifier would replace everything.
    release = REPO / "tests" / "component" / "upgrade" / "v0.1.0"

    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir()
    stack = yaml.safe_load((release / "stacks" / "Pulumi.tke.yaml").read_text())
    cluster = stack["config"]["rustfs-platform:platform"]["cluster"]
    cluster.pop("api_allowed_cidrs")
    if cidrs is not None:
        cluster["api_allowed_cidrs"] = cidrs
    (tmp_path / "stacks" / "Pulumi.tke.yaml").write_text(yaml.safe_dump(stack))
    old = json.loads((release / "plans" / "tke.json").read_text())
    new = json.loads(render_stack("tke", tmp_path).to_json())
    diff = diff_plans(old, new)
    [provider] = [r["urn"] for r in new["resources"] if r["type"] == K8S_PROVIDER]
    [endpoint] = [r["urn"] for r in new["resources"] if r["type"].endswith("clusterEndpoint:ClusterEndpoint")]
    assert provider in diff.unseen and provider not in diff.replaced  # the identifier is being added
    assert ("? " + provider) in format_diff(diff)
    if cidrs != []:  # the public endpoint, hence the kubeconfig, stays: nothing in-cluster can be replaced
        assert endpoint not in diff.changed and not diff.removed
    else:            # asked for: the kubeconfig moves to the intranet server (UPGRADE.md: a later, separate update)
        assert ("inputs.clusterIntranet", None, True) in diff.changed[endpoint]
        assert {u.split("::")[-1] for u in diff.removed} == {"rustfs-tke-api"}
