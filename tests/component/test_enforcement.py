"""The tenants' NetworkPolicies are enforced on every cloud the component builds, and the cold tier's egress is
as narrow as the cloud allows (docs/component.md, "Network isolation")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from component_support import kubernetes_objects, render_variant

from rustfs_component.plan import Plan


def _cold_tier_egress(plan: Plan) -> list[set[str]]:
    """The destination CIDRs of every tenant's cold-tier egress policy."""
    return [{peer["ipBlock"]["cidr"] for rule in o["spec"]["egress"] for peer in rule["to"]}
            for o in kubernetes_objects(plan)
            if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-allow-cold-tier")]


def test_eks_turns_on_the_vpc_cni_network_policy_agent_before_any_node_joins(plans: dict[str, Plan]) -> None:
    plan = plans["eks"]
    [addon] = [r for r in plan.find("aws:eks/addon:Addon") if r.inputs["addonName"] == "vpc-cni"]
    assert json.loads(addon.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert addon.inputs["resolveConflictsOnCreate"] == "OVERWRITE"  # takes over the vpc-cni EKS installed
    groups = plan.find("aws:eks/nodeGroup:NodeGroup")
    assert groups and all(addon.urn in group.dependencies for group in groups)


def test_ack_uses_terway_with_network_policy_and_pod_vswitches_in_the_node_zones(plans: dict[str, Plan]) -> None:
    plan = plans["ack"]
    [cluster] = plan.find("alicloud:cs/managedKubernetes:ManagedKubernetes")
    addons = {a["name"]: a.get("config") for a in cluster.inputs["addons"]}
    assert "flannel" not in addons and "podCidr" not in cluster.inputs
    assert json.loads(addons["terway-eniip"])["NetworkPolicy"] == "true"
    switches = {r.name: r.inputs for r in plan.find("alicloud:vpc/switch:Switch")}
    pod_switches = {n: s for n, s in switches.items() if "-pods-" in n}
    node_zones = sorted(s["zoneId"] for n, s in switches.items() if n not in pod_switches)
    assert sorted(s["zoneId"] for s in pod_switches.values()) == node_zones
    assert len(cluster.inputs["podVswitchIds"]) == len(node_zones)


def test_ack_without_a_cni_keeps_flannel_as_v0_1_0_created_it_so_an_upgrade_replaces_no_cluster(tmp_path: Path) -> None:
    def flannel(config: dict[str, Any]) -> None:
        del config["rustfs-platform:platform"]["cluster"]["cni"]    # the example stack opts in to terway

    plan = render_variant(tmp_path, "ack", flannel)
    [cluster] = plan.find("alicloud:cs/managedKubernetes:ManagedKubernetes")
    assert [a["name"] for a in cluster.inputs["addons"]][0] == "flannel"
    assert "podVswitchIds" not in cluster.inputs and cluster.inputs["podCidr"]
    assert not [r for r in plan.find("alicloud:vpc/switch:Switch") if "-pods-" in r.name]


def test_tke_installs_its_network_policy_add_on_once_nodes_exist(plans: dict[str, Plan]) -> None:
    plan = plans["tke"]
    [addon] = [r for r in plan.find("tencentcloud:Kubernetes/addon:Addon") if r.inputs["addonName"] == "networkpolicy"]
    pools = plan.find("tencentcloud:Kubernetes/nodePool:NodePool")
    assert pools and all(pool.urn in addon.dependencies for pool in pools)


def test_tanzu_clusters_run_a_cni_that_enforces_network_policies(plans: dict[str, Plan], tmp_path: Path) -> None:
    # Cluster API: no CNI override, so the Supervisor's default (Antrea, or Calico): both enforce NetworkPolicies.
    [cluster] = [o for o in kubernetes_objects(plans["tanzu"]) if o["kind"] == "Cluster"]
    assert "cni" not in json.dumps(cluster["spec"])

    def use_tkc(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["cluster"]["api"] = "tkc"

    [tkc] = [o for o in kubernetes_objects(render_variant(tmp_path, "tanzu", use_tkc))
             if o["kind"] == "TanzuKubernetesCluster"]
    assert tkc["spec"]["settings"]["network"]["cni"] == {"name": "antrea"}


def test_eks_cold_tier_egress_is_s3s_prefix_list_and_the_sts_endpoint_subnets(plans: dict[str, Plan]) -> None:
    plan = plans["eks"]
    endpoints = {r.inputs["serviceName"]: r.inputs for r in plan.find("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert endpoints["com.amazonaws.eu-central-1.s3"]["vpcEndpointType"] == "Gateway"
    assert endpoints["com.amazonaws.eu-central-1.sts"]["privateDnsEnabled"] is True
    private = {r.inputs["cidrBlock"] for r in plan.find("aws:ec2/subnet:Subnet") if "-private-" in r.name}
    # The mocked S3 prefix list holds two documentation ranges (rustfs_component/plan/mocks.py).
    egress = _cold_tier_egress(plan)
    assert egress and all(cidrs == {"198.51.100.0/24", "203.0.113.0/24"} | private for cidrs in egress)


def test_an_external_cold_tier_egress_is_its_configured_cidrs_else_open(plans: dict[str, Plan], tmp_path: Path) -> None:
    def narrow(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["cluster"]["cold_tier"]["egress_cidrs"] = ["192.0.2.16/28"]

    assert set(map(frozenset, _cold_tier_egress(render_variant(tmp_path, "tanzu", narrow)))) == {frozenset({"192.0.2.16/28"})}
    # OSS, COS and an external endpoint without `egress_cidrs` publish no address ranges: documented as open.
    for stack in ("ack", "tke", "tanzu"):
        egress = _cold_tier_egress(plans[stack])
        assert egress and all(cidrs == {"0.0.0.0/0"} for cidrs in egress), stack
