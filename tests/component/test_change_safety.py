"""Changes that must not ripple: a new kubeconfig, and the Tanzu TKC variant's schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from component_support import kubernetes_objects, render_variant
from component_validation import validate_custom

from rustfs_component.plan import Plan, diff_plans


def test_a_new_kubeconfig_changes_only_the_provider(tmp_path: Path) -> None:
    def with_kubeconfig(token: str) -> Any:
        def mutate(config: dict[str, Any]) -> None:
            config["rustfs-platform:kubeconfig"] = json.dumps({"apiVersion": "v1", "kind": "Config", "users": [
                {"name": "u", "user": {"token": token}}]})
        return mutate

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = render_variant(tmp_path / "a", "existing", with_kubeconfig("old-token"))
    new = render_variant(tmp_path / "b", "existing", with_kubeconfig("rotated-token"))
    [old_provider], [new_provider] = old.find("pulumi:providers:kubernetes"), new.find("pulumi:providers:kubernetes")
    assert old.raw_inputs(old_provider.urn)["kubeconfig"] != new.raw_inputs(new_provider.urn)["kubeconfig"]
    # Only the provider's (secret, redacted) kubeconfig differs: every in-cluster object keeps its URN,
    # inputs and provider URN, so a credential rotation updates the provider and replaces nothing.
    assert diff_plans(json.loads(old.to_json()), json.loads(new.to_json())).empty


def test_the_provider_urn_is_independent_of_the_cluster_outputs(plans: dict[str, Plan]) -> None:
    for stack, plan in plans.items():
        providers = {row["provider"] for row in plan.resources() if row["type"].startswith("kubernetes:")}
        assert all(p.endswith(("-k8s", "-supervisor")) for p in providers), (stack, providers)


def test_tanzu_kubernetes_cluster_variant_validates(tmp_path: Path) -> None:
    def use_tkc(config: dict[str, Any]) -> None:
        cluster = config["rustfs-platform:platform"]["cluster"]
        cluster["api"] = "tkc"
        cluster["tkr"] = "v1.31.4---vmware.1-fips-vkr.3"

    plan = render_variant(tmp_path, "tanzu", use_tkc)
    [tkc] = [o for o in kubernetes_objects(plan) if o["kind"] == "TanzuKubernetesCluster"]
    assert tkc["apiVersion"] == "run.tanzu.vmware.com/v1alpha3"
    assert tkc["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert validate_custom(tkc) == []
    assert {p["labels"]["rustfs.io/tier"] for p in tkc["spec"]["topology"]["nodePools"]} == {"hot", "warm"}


def test_unknown_fields_in_custom_resources_are_caught(plans: dict[str, Plan]) -> None:
    [cluster] = [o for o in kubernetes_objects(plans["tanzu"]) if o["kind"] == "Cluster"]
    cluster["spec"]["topology"]["controlPlane"]["vmClas"] = "typo"
    assert any("vmClas" in error for error in validate_custom(cluster))
