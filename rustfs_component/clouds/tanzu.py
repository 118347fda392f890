"""vSphere with Tanzu: a TKG cluster created on the Supervisor with pulumi-kubernetes.

Either a `run.tanzu.vmware.com/v1alpha3` TanzuKubernetesCluster or a Cluster API `Cluster` of class
`tanzukubernetescluster`. The guest cluster's kubeconfig is read from the `<name>-kubeconfig` Secret
the Supervisor writes next to it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.clouds.base import (TIER_NODE_LABEL, ClusterHandle, ColdTierAccess, TenantIdentity,
                                          cloud_provider, kubernetes_provider)
from rustfs_component.clouds.external_s3 import external_s3_cold_tier
from rustfs_component.config.ingress import IngressConfig
from rustfs_component.config import ExternalS3ColdTier, TanzuCluster, VsphereTier

TKC_API_VERSION = "run.tanzu.vmware.com/v1alpha3"
CAPI_API_VERSION = "cluster.x-k8s.io/v1beta1"
TKG_CLUSTER_CLASS = "tanzukubernetescluster"
# pulumi-kubernetes waits for this condition before anything reads the kubeconfig Secret.
WAIT_FOR_READY = {"pulumi.com/waitFor": "condition=Ready"}


def tkc_spec(config: TanzuCluster) -> dict[str, Any]:
    """TanzuKubernetesCluster v1alpha3 spec (only fields v1alpha2 shares, so the offline schema checks it)."""
    tkr = {"reference": {"name": config.tkr}}
    return {
        "topology": {
            "controlPlane": {"replicas": config.control_plane_replicas, "vmClass": config.control_plane_vm_class,
                             "storageClass": config.default_storage_class, "tkr": tkr},
            "nodePools": [{"name": pool.name, "replicas": pool.replicas, "vmClass": pool.vm_class,
                           "storageClass": pool.storage_class or config.default_storage_class,
                           "labels": {TIER_NODE_LABEL: pool.tier}, "tkr": tkr}
                          for pool in config.node_pools],
        },
        "settings": {
            "network": {"cni": {"name": "antrea"}, "pods": {"cidrBlocks": [config.pod_cidr]},
                        "services": {"cidrBlocks": [config.service_cidr]}},
            "storage": {"defaultClass": config.default_storage_class},
        },
    }


def capi_spec(config: TanzuCluster) -> dict[str, Any]:
    """Cluster API v1beta1 Cluster spec using the Supervisor's `tanzukubernetescluster` ClusterClass."""
    return {
        "clusterNetwork": {"pods": {"cidrBlocks": [config.pod_cidr]},
                           "services": {"cidrBlocks": [config.service_cidr]},
                           "serviceDomain": "cluster.local"},
        "topology": {
            "class": TKG_CLUSTER_CLASS,
            "version": config.tkr,
            "controlPlane": {"replicas": config.control_plane_replicas},
            "workers": {"machineDeployments": [
                {"class": "node-pool", "name": pool.name, "replicas": pool.replicas,
                 "variables": {"overrides": [
                     {"name": "vmClass", "value": pool.vm_class},
                     {"name": "storageClass", "value": pool.storage_class or config.default_storage_class},
                     {"name": "nodePoolLabels", "value": [{"key": TIER_NODE_LABEL, "value": pool.tier}]}]}}
                for pool in config.node_pools]},
            "variables": [
                {"name": "vmClass", "value": config.control_plane_vm_class},
                {"name": "storageClass", "value": config.default_storage_class},
                {"name": "defaultStorageClass", "value": config.default_storage_class}],
        },
    }


class TanzuClusterResource(pulumi.ComponentResource):
    """A TKG cluster on the Supervisor; exposes `handle` and `supervisor_provider`.

    `supervisor_provider` is the caller's Kubernetes provider when one is given (the platform's
    `kubernetes_provider=`, or a `kubernetes` provider in its `opts.provider`/`providers` or an ancestor's):
    the Supervisor is the one cluster that exists before. Otherwise the component creates one from the
    context `kubectl vsphere login` wrote. The guest cluster always gets a provider of its own.
    """

    handle: ClusterHandle
    supervisor_provider: pulumi.ProviderResource

    def __init__(self, name: str, config: TanzuCluster, opts: pulumi.ResourceOptions | None = None,
                 supervisor_provider: pulumi.ProviderResource | None = None) -> None:
        super().__init__("rustfs:tanzu:Cluster", name, None, opts)
        self.supervisor_provider = supervisor_provider or cloud_provider(self, "kubernetes", lambda: k8s.Provider(
            f"{name}-supervisor", context=config.supervisor_context, namespace=config.vsphere_namespace,
            opts=pulumi.ResourceOptions(parent=self)))
        child = pulumi.ResourceOptions(parent=self, provider=self.supervisor_provider)
        metadata = {"name": name, "namespace": config.vsphere_namespace, "annotations": WAIT_FOR_READY,
                    "labels": {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": name}}
        if config.api == "tkc":
            cluster = k8s.apiextensions.CustomResource(
                f"{name}-cluster", api_version=TKC_API_VERSION, kind="TanzuKubernetesCluster",
                metadata=metadata, spec=tkc_spec(config), opts=child)
        else:
            cluster = k8s.apiextensions.CustomResource(
                f"{name}-cluster", api_version=CAPI_API_VERSION, kind="Cluster",
                metadata=metadata, spec=capi_spec(config), opts=child)

        # The ID depends on the cluster, so the Secret is read only after the cluster is Ready.
        secret_id = cluster.id.apply(lambda _: f"{config.vsphere_namespace}/{name}-kubeconfig")
        secret = k8s.core.v1.Secret.get(f"{name}-kubeconfig", secret_id, opts=child)
        # `or`: under a test's stock mocks (outputs = inputs) the read Secret has no data and the cluster no uid.
        kubeconfig = pulumi.Output.secret(secret.data.apply(
            lambda data: base64.b64decode((data or {}).get("value") or "").decode()))
        # The cluster object's UID is new with every cluster (its `namespace/name` ID is not).
        live_metadata: pulumi.Output[Any] = getattr(cluster, "metadata")  # noqa: B009 (untyped CustomResource output)
        identifier = pulumi.Output.all(cluster.id, live_metadata).apply(lambda a: (a[1] or {}).get("uid") or a[0])
        provider = kubernetes_provider(name, kubeconfig, parent=self, cluster_identifier=identifier)
        self.handle = ClusterHandle(kubeconfig=kubeconfig, provider=provider, ready=[cluster])
        self.register_outputs({"kubeconfig": kubeconfig})


class Tanzu:
    """`cloud: tanzu` (extra `[tanzu]`: no SDK beyond pulumi-kubernetes)."""

    cloud = "tanzu"
    # `kubernetes_provider`: the Supervisor's (the guest cluster does not exist before the component creates it).
    explicit_arguments: frozenset[str] = frozenset({"kubernetes_provider"})

    def create_cluster(self, name: str, config: TanzuCluster, *, opts: pulumi.ResourceOptions,
                       **explicit: Any) -> ClusterHandle:
        return TanzuClusterResource(f"{name}-tanzu", config, opts=opts,
                                    supervisor_provider=explicit.get("kubernetes_provider")).handle

    def storage_class(self, tier: VsphereTier) -> tuple[str, dict[str, str]]:
        # Paravirtual CSI in a TKG cluster: the Supervisor storage class does the provisioning.
        return "csi.vsphere.vmware.com", {"svStorageClass": tier.storage_policy}

    def create_cold_tier(self, name: str, config: ExternalS3ColdTier, tenants: Sequence[TenantIdentity],
                         handle: ClusterHandle, *, opts: pulumi.ResourceOptions,
                         secret_access_key: pulumi.Input[str] | None) -> dict[str, ColdTierAccess]:
        return external_s3_cold_tier(config, tenants, secret_access_key)

    def ingress_service_annotations(self, config: IngressConfig) -> dict[str, str]:
        # The Supervisor's load balancer (NSX, NSX ALB or HAProxy) serves `type: LoadBalancer` with no annotation; its
        # ingress CIDR decides who reaches it. AKO's own IngressClass is used with ingress.install_controller false.
        return {}


CLOUD = Tanzu()
