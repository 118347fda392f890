"""Tenants are isolated: distinct names, distinct secrets, NetworkPolicies that select only their pods."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from component_support import kubernetes_objects, render_variant
from pydantic import ValidationError

from rustfs_component.config import PlatformConfig
from rustfs_component.plan import Plan

S3 = ((9000, "TCP"),)


def _policies(plan: Plan, tenant: str) -> list[dict[str, Any]]:
    return [o for o in kubernetes_objects(plan)
            if o["kind"] == "NetworkPolicy" and o["metadata"]["labels"].get("rustfs.io/tenant") == tenant]


def _ingress_peers(plan: Plan, tenant: str) -> set[tuple[str, tuple[tuple[int, str], ...]]]:
    """Every (peer, ports) any policy of `tenant` admits; ports () means all ports."""
    admitted: set[tuple[str, tuple[tuple[int, str], ...]]] = set()
    for policy in _policies(plan, tenant):
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: a rule without peers admits everyone"
            ports = tuple(sorted((p["port"], p["protocol"]) for p in rule.get("ports", [])))
            admitted |= {(json.dumps(peer, sort_keys=True), ports) for peer in rule["from"]}
    return admitted


def _peer(**peer: Any) -> str:
    return json.dumps(peer, sort_keys=True)


def _namespace(name: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _own_pods(tenant: str) -> str:
    return _peer(podSelector={"matchLabels": {"app.kubernetes.io/name": "rustfs", "rustfs.io/tenant": tenant}})


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
    policies = [o for o in kubernetes_objects(plan)  # the tenants' (not Vault's: test_vault_tenants)
                if o["kind"] == "NetworkPolicy" and "rustfs.io/tenant" in o["metadata"]["labels"]]
    tenants = {o["metadata"]["labels"]["rustfs.io/tenant"] for o in policies}
    assert tenants == {"games", "archive"}
    for policy in policies:
        tenant = policy["metadata"]["labels"]["rustfs.io/tenant"]
        assert policy["spec"]["podSelector"]["matchLabels"]["rustfs.io/tenant"] == tenant
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                if set(peer) == {"podSelector"} and peer["podSelector"]:  # only the same tenant's engine pods
                    assert peer["podSelector"]["matchLabels"]["rustfs.io/tenant"] == tenant
                if not rule.get("ports"):  # all ports: only the tenant's own engine pods
                    assert peer == {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "rustfs", "rustfs.io/tenant": tenant}}}
        # The tenants share a namespace whose pods may be S3 clients; another tenant's engine pods still
        # cannot reach this one: their egress goes only to their own tenant, DNS and the cold tier.
        for rule in policy["spec"].get("egress", []):
            for peer in rule["to"]:
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert peer["podSelector"]["matchLabels"]["rustfs.io/tenant"] == tenant
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


def test_a_tanzu_tenant_admits_its_namespace_the_configured_clients_and_nothing_else(plans: dict[str, Plan]) -> None:
    # stacks/Pulumi.tanzu.yaml: network.clients admits namespace analytics, backup pods of namespace backup and
    # 10.40.0.0/16; monitoring_namespace is null. Before, no client at all could reach a Tanzu tenant.
    assert _ingress_peers(plans["tanzu"], "research") == {
        (_own_pods("research"), ()),
        (_peer(podSelector={}), S3),  # default: pods of the tenant's own namespace
        (_peer(namespaceSelector=_namespace("analytics")), S3),
        (_peer(namespaceSelector=_namespace("backup"),
               podSelector={"matchLabels": {"app.kubernetes.io/name": "backup"}}), S3),
        (_peer(ipBlock={"cidr": "10.40.0.0/16"}), S3),
        (_peer(namespaceSelector=_namespace("ingress-nginx")), S3),
    }


def test_a_tenant_override_admits_only_its_pod_label_clients(plans: dict[str, Plan]) -> None:
    # tenant records: clients {same_namespace: false, pods: [{labels: {app: records-api}}]} replaces network.clients.
    assert _ingress_peers(plans["tanzu"], "records") == {
        (_own_pods("records"), ()),
        (_peer(podSelector={"matchLabels": {"app": "records-api"}}), S3),
        (_peer(namespaceSelector=_namespace("ingress-nginx")), S3),
    }


@pytest.mark.parametrize("stack", ["existing", "eks"])
def test_by_default_pods_of_the_tenants_namespace_reach_it(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    for tenant in {o["metadata"]["labels"]["rustfs.io/tenant"] for o in kubernetes_objects(plan)
                   if o["kind"] == "NetworkPolicy" and "rustfs.io/tenant" in o["metadata"]["labels"]}:
        assert _ingress_peers(plan, tenant) == {
            (_own_pods(tenant), ()), (_peer(podSelector={}), S3),
            (_peer(namespaceSelector=_namespace("ingress-nginx")), S3),
            (_peer(namespaceSelector=_namespace("monitoring")), S3)}


def test_with_no_clients_only_the_tenants_own_pods_reach_it(tmp_path: Path) -> None:
    def shut(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["network"] = {
            "clients": {"same_namespace": False}, "ingress_controller_namespace": None, "monitoring_namespace": None}
        config["rustfs-platform:platform"]["monitoring"] = {"mode": "none"}  # no Prometheus to admit

    plan = render_variant(tmp_path, "existing", shut)
    for tenant in ("dev", "ci"):
        assert _ingress_peers(plan, tenant) == {(_own_pods(tenant), ())}
        names = {p["metadata"]["name"] for p in _policies(plan, tenant)}
        assert names == {f"{tenant}-default-deny", f"{tenant}-allow-intra-tenant", f"{tenant}-allow-dns",
                         f"{tenant}-allow-vault",  # egress to Vault (test_vault_tenants)
                         *([f"{tenant}-allow-identity"] if tenant == "ci" else [])}  # OIDC (test_identity_render)


@pytest.mark.parametrize(("where", "cidr", "location"), [
    ("network", "10.40.0.1/16", "network.clients.cidrs.1"),  # host bits set
    ("network", "10.40.0.0/33", "network.clients.cidrs.1"),
    ("tenant", "backup-subnet", "tenants.0.clients.cidrs.0"),
])
def test_a_bad_client_cidr_is_refused_naming_the_field(where: str, cidr: str, location: str) -> None:
    config: dict[str, Any] = {
        "cluster": {"cloud": "existing", "tiers": {"hot": {"existing_storage_class": "ssd"},
                                                   "warm": {"existing_storage_class": "hdd"}}},
        "engine": {"image": "ghcr.io/acme/rustfs-engine:0.1.0@sha256:" + "a" * 64},
        "tenants": [{"name": "t1", "pools": [{"name": "pool0"}]}]}
    if where == "network":
        config["network"] = {"clients": {"cidrs": ["192.168.0.0/24", cidr]}}
    else:
        config["tenants"][0]["clients"] = {"cidrs": [cidr]}
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(config)
    [error] = caught.value.errors()
    assert ".".join(map(str, error["loc"])) == location
    assert "not a CIDR" in error["msg"]


def test_client_pod_labels_must_be_kubernetes_labels() -> None:
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate({
            "cluster": {"cloud": "existing", "tiers": {"hot": {"existing_storage_class": "ssd"},
                                                       "warm": {"existing_storage_class": "hdd"}}},
            "engine": {"image": "ghcr.io/acme/rustfs-engine:0.1.0@sha256:" + "a" * 64},
            "network": {"clients": {"pods": [{"labels": {"app": "has space"}}]}}})
    [error] = caught.value.errors()
    assert ".".join(map(str, error["loc"])) == "network.clients.pods.0.labels"
