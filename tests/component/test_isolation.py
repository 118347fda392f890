"""Tenants are isolated: distinct names, distinct secrets, NetworkPolicies that select only their pods."""

from __future__ import annotations

from collections import Counter

from component_support import kubernetes_objects

from rustfs_component.plan import Plan


def test_object_names_never_collide_even_in_a_shared_namespace(plans: dict[str, Plan]) -> None:
    plan = plans["tke"]  # two tenants share namespace "storage"
    objects = kubernetes_objects(plan)
    keys = Counter((o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects)
    assert [k for k, n in keys.items() if n > 1] == []
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] == "StatefulSet"} == {"storage"}


def test_each_tenant_has_its_own_generated_credentials(plans: dict[str, Plan]) -> None:
    for plan in plans.values():
        secrets = {reg.name: plan.raw_inputs(reg.urn)["stringData"] for reg in plan.find("kubernetes:core/v1:Secret")
                   if reg.name.endswith("-credentials")}
        assert len(secrets) >= 2
        pairs = [(s["accessKey"], s["secretKey"]) for s in secrets.values()]
        assert len({p[0] for p in pairs}) == len(pairs) and len({p[1] for p in pairs}) == len(pairs)
        assert all(len(secret) >= 40 for _, secret in pairs)


def test_network_policies_select_only_their_tenant(plans: dict[str, Plan]) -> None:
    plan = plans["tke"]
    policies = [o for o in kubernetes_objects(plan) if o["kind"] == "NetworkPolicy"]
    tenants = {o["metadata"]["labels"]["rustfs.io/tenant"] for o in policies}
    assert tenants == {"games", "archive"}
    for policy in policies:
        tenant = policy["metadata"]["labels"]["rustfs.io/tenant"]
        assert policy["spec"]["podSelector"]["matchLabels"]["rustfs.io/tenant"] == tenant
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if "podSelector" in peer:  # pods of this namespace: only the same tenant's
                    assert peer["podSelector"]["matchLabels"]["rustfs.io/tenant"] == tenant
                else:
                    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] in ("ingress-nginx", "monitoring")
    deny = [p for p in policies if p["metadata"]["name"].endswith("default-deny")]
    assert len(deny) == 2 and all(p["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in p["spec"] for p in deny)


def test_pods_select_their_own_pool_and_tenant(plans: dict[str, Plan]) -> None:
    for plan in plans.values():
        for sts in (o for o in kubernetes_objects(plan) if o["kind"] == "StatefulSet"):
            selector = sts["spec"]["selector"]["matchLabels"]
            tenant, pool = sts["metadata"]["labels"]["rustfs.io/tenant"], sts["metadata"]["labels"]["rustfs.io/pool"]
            assert selector == {"app.kubernetes.io/name": "rustfs", "rustfs.io/tenant": tenant, "rustfs.io/pool": pool}
            assert sts["metadata"]["name"] == f"{tenant}-{pool}"


def test_every_child_has_an_explicit_parent_and_in_cluster_objects_an_explicit_provider(plans: dict[str, Plan]) -> None:
    for stack, plan in plans.items():
        for row in plan.resources():
            at_stack_level = row["parent"].endswith(f"pulumi:pulumi:Stack::rustfs-platform-{stack}")
            assert at_stack_level == (row["type"] == "rustfs:index:ObjectStoragePlatform"), row["name"]
            if row["type"].startswith("kubernetes:"):
                assert row["provider"].endswith("-k8s") or row["provider"].endswith("-supervisor"), row["name"]
            if row["type"].split(":")[0] in ("aws", "alicloud", "tencentcloud"):
                assert row["provider"], f"{row['name']} uses the ambient default provider"


def test_eks_kubeconfig_holds_no_credentials_and_uses_the_provider_profile(plans: dict[str, Plan]) -> None:
    import json

    plan = plans["eks"]
    [provider] = plan.find("pulumi:providers:kubernetes")
    kubeconfig = json.loads(plan.raw_inputs(provider.urn)["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    assert set(user) == {"exec"}  # no token or certificate that could change between runs
    assert user["exec"]["args"][-2:] == ["--profile", "storage-admin"]
    [aws_provider] = plan.find("pulumi:providers:aws")
    assert plan.raw_inputs(aws_provider.urn)["profile"] == "storage-admin"
