"""A tenant's NetworkPolicies: deny by default, then allow exactly what the tenant needs.

Every policy selects the tenant's pods by label, never the whole namespace, so tenants sharing a
namespace keep separate rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import LabelSelectorArgsDict
from pulumi_kubernetes.networking.v1 import NetworkPolicyPeerArgsDict, NetworkPolicyPortArgsDict, NetworkPolicySpecArgsDict

from rustfs_component.config.network import S3Clients
from rustfs_component.engine import ENGINE_PORT
from rustfs_component.labels import tenant_selector

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


@dataclass(frozen=True)
class VaultPeer:
    """Where tenants reach Vault (their `allow-vault` egress): the pods `pod_labels` (None: every pod) in `namespace`
    for a Vault in the cluster; `namespace` None: a Vault elsewhere, at any address on `port`."""

    port: int
    namespace: str | None = None
    pod_labels: Mapping[str, str] | None = None

    @classmethod
    def of_address(cls, address: str, pod_labels: Mapping[str, str] | None = None) -> "VaultPeer":
        """From Vault's address: `https://<service>.<namespace>.svc[.<domain>]:<port>` is in the cluster."""
        parts = urlsplit(address)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        labels = (parts.hostname or "").split(".")
        if len(labels) >= 3 and labels[2] == "svc":
            return cls(port=port, namespace=labels[1], pod_labels=pod_labels)
        return cls(port=port)


def _from_namespace(namespace: str) -> NetworkPolicyPeerArgsDict:
    return {"namespace_selector": {"match_labels": {NAMESPACE_NAME_LABEL: namespace}}}


def _ip_blocks(cidrs: pulumi.Input[Sequence[str]] | None) -> pulumi.Input[Sequence[NetworkPolicyPeerArgsDict]]:
    """ipBlock peers of `cidrs` (known only at deploy time for some clouds); None: anywhere (0.0.0.0/0)."""
    if cidrs is None:
        return [{"ip_block": {"cidr": "0.0.0.0/0"}}]

    def peers(values: Sequence[str]) -> list[NetworkPolicyPeerArgsDict]:
        if not values:  # an empty `to` would admit everything: refuse rather than open up
            raise ValueError("the cold tier's egress CIDR list is empty")
        return [{"ip_block": {"cidr": cidr}} for cidr in sorted(set(values))]
    return pulumi.Output.from_input(cidrs).apply(peers)


def client_peers(clients: S3Clients) -> list[NetworkPolicyPeerArgsDict]:
    """The peers `clients` admits, in a stable order; empty when it admits nobody."""
    peers: list[NetworkPolicyPeerArgsDict] = []
    if clients.same_namespace:
        peers.append({"pod_selector": {}})  # every pod of the policy's (the tenant's) namespace
    peers.extend(_from_namespace(namespace) for namespace in clients.namespaces)
    for pods in clients.pods:
        selector: LabelSelectorArgsDict = {"match_labels": dict(pods.labels)}
        if pods.namespaces is None:
            peers.append({"pod_selector": selector})
        else:
            peers.extend({**_from_namespace(namespace), "pod_selector": selector} for namespace in pods.namespaces)
    peers.extend({"ip_block": {"cidr": cidr}} for cidr in clients.cidrs)
    return peers


def tenant_network_policies(*, name: str, tenant: str, namespace: str, labels: Mapping[str, str],
                            clients: S3Clients, ingress_controller_namespace: str | None,
                            monitoring_namespace: str | None, cold_tier_endpoint: str | None,
                            cold_tier_cidrs: pulumi.Input[Sequence[str]] | None = None,
                            vault: VaultPeer | None = None,
                            opts: pulumi.ResourceOptions) -> list[k8s.networking.v1.NetworkPolicy]:
    """Create the policies; `name` prefixes the logical names, `tenant` the object names.

    A policy that would admit nobody is not rendered at all: an ingress rule with no peers admits everyone."""
    pods: LabelSelectorArgsDict = {"match_labels": tenant_selector(tenant)}
    s3_port: list[NetworkPolicyPortArgsDict] = [{"port": ENGINE_PORT, "protocol": "TCP"}]
    specs: dict[str, NetworkPolicySpecArgsDict] = {
        "default-deny": {"pod_selector": pods, "policy_types": ["Ingress", "Egress"]},
        # Peers of a tenant talk to each other (distributed erasure sets, healing).
        "allow-intra-tenant": {
            "pod_selector": pods, "policy_types": ["Ingress", "Egress"],
            "ingress": [{"from_": [{"pod_selector": pods}]}],
            "egress": [{"to": [{"pod_selector": pods}]}]},
    }
    peers = client_peers(clients)
    if peers:
        specs["allow-clients"] = {
            "pod_selector": pods, "policy_types": ["Ingress"], "ingress": [{"from_": peers, "ports": s3_port}]}
    if ingress_controller_namespace is not None:
        specs["allow-ingress-controller"] = {
            "pod_selector": pods, "policy_types": ["Ingress"],
            "ingress": [{"from_": [_from_namespace(ingress_controller_namespace)], "ports": s3_port}]}
    if monitoring_namespace is not None:
        specs["allow-monitoring"] = {
            "pod_selector": pods, "policy_types": ["Ingress"],
            "ingress": [{"from_": [_from_namespace(monitoring_namespace)], "ports": s3_port}]}
    specs |= {
        "allow-dns": {
            "pod_selector": pods, "policy_types": ["Egress"],
            "egress": [{"to": [{**_from_namespace("kube-system"),
                                "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]},
    }
    if vault is not None:
        # The engine's KMS: Vault's pods in its namespace, or (a Vault outside the cluster) its port anywhere.
        to: list[NetworkPolicyPeerArgsDict] = [{"ip_block": {"cidr": "0.0.0.0/0"}}]
        if vault.namespace is not None:
            peer = _from_namespace(vault.namespace)
            if vault.pod_labels:
                peer["pod_selector"] = {"match_labels": dict(vault.pod_labels)}
            to = [peer]
        specs["allow-vault"] = {"pod_selector": pods, "policy_types": ["Egress"],
                                "egress": [{"to": to, "ports": [{"port": vault.port, "protocol": "TCP"}]}]}
    if cold_tier_endpoint is not None:
        # The cold bucket (and the cloud's token service for pod identities) is outside the cluster: the
        # cloud narrows it to the object store's (and token service's) addresses where it can, else 0.0.0.0/0.
        parts = urlsplit(cold_tier_endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        ports: list[NetworkPolicyPortArgsDict] = [{"port": 443, "protocol": "TCP"}]
        if port != 443:
            ports.append({"port": port, "protocol": "TCP"})
        specs["allow-cold-tier"] = {
            "pod_selector": pods, "policy_types": ["Egress"],
            "egress": [{"to": _ip_blocks(cold_tier_cidrs), "ports": ports}]}
    return [
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{suffix}",
            metadata={"name": f"{tenant}-{suffix}", "namespace": namespace, "labels": dict(labels)},
            spec=spec,
            opts=opts)
        for suffix, spec in specs.items()]


def vault_network_policy(name: str, *, namespace: str, vault_pods: Mapping[str, str], job_pods: Mapping[str, str],
                         tenants: Sequence[tuple[str, str]], port: int, labels: Mapping[str, str],
                         opts: pulumi.ResourceOptions) -> k8s.networking.v1.NetworkPolicy:
    """The installed Vault's ingress (`vault-allow`): its own pods (Raft, request forwarding), the configuring Job, and
    each tenant's engine pods (`tenants`: (tenant, namespace)) on `port`; nobody else."""
    clients: list[NetworkPolicyPeerArgsDict] = [{"pod_selector": {"match_labels": dict(job_pods)}}]
    for tenant, tenant_namespace in sorted(tenants):
        peer = _from_namespace(tenant_namespace)
        peer["pod_selector"] = {"match_labels": tenant_selector(tenant)}
        clients.append(peer)
    pods: LabelSelectorArgsDict = {"match_labels": dict(vault_pods)}
    return k8s.networking.v1.NetworkPolicy(
        name, metadata={"name": "vault-allow", "namespace": namespace, "labels": dict(labels)},
        spec={"pod_selector": pods, "policy_types": ["Ingress"],
              "ingress": [{"from_": [{"pod_selector": pods}]},
                          {"from_": clients, "ports": [{"port": port, "protocol": "TCP"}]}]},
        opts=opts)


def vault_job_network_policy(name: str, *, namespace: str, job_pods: Mapping[str, str], vault: VaultPeer,
                             kubernetes_api: bool, labels: Mapping[str, str],
                             opts: pulumi.ResourceOptions) -> k8s.networking.v1.NetworkPolicy:
    """The vault-configure Job's pods (`vault-configure`): no ingress; egress to Vault, cluster DNS and, to create the
    vault-init Secret (`kubernetes_api`), the Kubernetes API (its endpoints' addresses are the cluster's: any, on 443
    and 6443)."""
    to_vault: NetworkPolicyPeerArgsDict = {"ip_block": {"cidr": "0.0.0.0/0"}}
    if vault.namespace is not None:
        to_vault = _from_namespace(vault.namespace)
        if vault.pod_labels:
            to_vault["pod_selector"] = {"match_labels": dict(vault.pod_labels)}
    egress: list[k8s.networking.v1.NetworkPolicyEgressRuleArgsDict] = [
        {"to": [to_vault], "ports": [{"port": vault.port, "protocol": "TCP"}]},
        {"to": [{**_from_namespace("kube-system"), "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}}}],
         "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]
    if kubernetes_api:
        egress.append({"to": [{"ip_block": {"cidr": "0.0.0.0/0"}}],
                       "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]})
    return k8s.networking.v1.NetworkPolicy(
        name, metadata={"name": "vault-configure", "namespace": namespace, "labels": dict(labels)},
        spec={"pod_selector": {"match_labels": dict(job_pods)}, "policy_types": ["Ingress", "Egress"],
              "egress": egress},
        opts=opts)
