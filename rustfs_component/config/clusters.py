"""Cluster settings: one model per cloud, told apart by `cloud` (a discriminated union).

Every model names its node pools, tiers and cold tier the same way, so switching clouds changes values,
not the shape of the stack file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, Field, model_validator

from rustfs_component.config.base import TIERS, DnsLabel, StrictModel, TierName
from rustfs_component.config.limits import check_cidr, raise_at
from rustfs_component.config.tiers import (AliDiskTier, CbsTier, CosColdTier, EbsTier, ExternalS3ColdTier,
                                           GenericTier, OssColdTier, S3ColdTier, VsphereTier)


class NodePool(StrictModel):
    """A node pool for one storage tier; its nodes carry the label `rustfs.io/tier=<tier>`."""

    name: DnsLabel = Field(description="Pool name, unique in the cluster. Required.")
    tier: TierName = Field(description="The tier whose engine pods run here: 'hot' or 'warm'. Required.")
    instance_type: str = Field(description="Instance type, e.g. 'm7i.2xlarge' (EKS). Required.")
    min_size: int = Field(default=3, ge=0, description="Fewest nodes. Default 3.")
    max_size: int = Field(default=6, ge=1, description="Most nodes. Default 6.")
    desired_size: int = Field(default=3, ge=0, description="Nodes at creation. Default 3.")
    system_disk_gib: int = Field(default=100, ge=20, description="Root/system disk size in GiB. Default 100.")

    @model_validator(mode="after")
    def _sizes(self) -> "NodePool":
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError("need min_size <= desired_size <= max_size")
        return self


Cidr = Annotated[str, AfterValidator(check_cidr)]
"""An IPv4/IPv6 network such as '203.0.113.0/24' (no host bits)."""


def _check_unique_pool_names(pools: list[NodePool]) -> None:
    names = [p.name for p in pools]
    if len(set(names)) != len(names):
        raise ValueError(f"node_pools: duplicate names in {names}")


class EksCluster(StrictModel):
    """Amazon EKS: VPC, IAM roles, the cluster (API authentication), managed node groups, EBS CSI."""

    cloud: Literal["eks"] = Field(description="Discriminator. Required.")
    region: str = Field(description="AWS region, e.g. 'eu-central-1'. Required.")
    profile: str | None = Field(
        default=None,
        description="AWS CLI profile used by the provider AND the kubeconfig's `aws eks get-token` "
                    "(passed as --profile, so both use the same credentials). Default: ambient credentials.")
    kubernetes_version: str = Field(default="1.33", description="EKS Kubernetes version. Default '1.33'.")
    availability_zones: list[str] = Field(
        min_length=2, max_length=6,
        description="AZs for subnets and nodes; at least 2. Explicit so a region's AZ list changing "
                    "never moves subnets. Required.")
    vpc_cidr: str = Field(default="10.0.0.0/16", description="VPC CIDR; subnets are /20s carved from it. Default '10.0.0.0/16'.")
    nat_gateway_per_az: bool = Field(
        default=True, description="One NAT gateway per AZ (zonal failure isolation) instead of one. Default true.")
    endpoint_public_access: bool = Field(
        default=False,
        description="Also open the public API endpoint (the private one is always on), to `public_access_cidrs` "
                    "only. Default: true exactly when `public_access_cidrs` is given, else false (private only).")
    public_access_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="CIDRs allowed to the public API endpoint; '0.0.0.0/0' only when written here. Default: none "
                    "(no public endpoint).")
    admin_principal_arns: list[str] = Field(
        default_factory=list,
        description="IAM principals given cluster-admin through EKS access entries (never the aws-auth "
                    "ConfigMap). The creator is admin already. Default: none.")
    node_pools: list[NodePool] = Field(
        default_factory=lambda: [NodePool(name="hot", tier="hot", instance_type="m7i.2xlarge"),
                                 NodePool(name="warm", tier="warm", instance_type="m7i.xlarge")],
        description="Managed node groups. Default: 'hot' (3x m7i.2xlarge) and 'warm' (3x m7i.xlarge).")
    fixed_node_group_names: list[str] = Field(
        default_factory=list,
        description="Node pools whose EKS node group keeps the fixed name '<name>-eks-<pool>' that v0.1.0 gave it, "
                    "so a v0.1.0 stack keeps its groups (docs/UPGRADE.md). Every other group is named from the "
                    "prefix '<name>-eks-<pool>-', so a change that replaces it (instance type, AZs, disk size) "
                    "creates the new group next to the old one. A fixed-name group cannot be replaced that way: "
                    "take the pool out of this list in the same change (one replacement). Default: none.")
    ignore_scaling_changes: bool = Field(
        default=True,
        description="Ignore desired_size drift caused by the cluster autoscaler. Default true.")
    tiers: dict[TierName, EbsTier] = Field(
        default_factory=lambda: {"hot": EbsTier(volume_type="gp3", iops=6000, throughput_mib=500),
                                 "warm": EbsTier(volume_type="st1")},
        description="StorageClass per tier. Default: hot gp3 (6000 IOPS, 500 MiB/s), warm st1.")
    cold_tier: S3ColdTier | None = Field(
        default_factory=S3ColdTier, description="Cold tier bucket; null disables it. Default: S3 GLACIER_IR.")

    @model_validator(mode="before")
    @classmethod
    def _public_when_cidrs_given(cls, data: Any) -> Any:
        if isinstance(data, dict) and "endpoint_public_access" not in data and data.get("public_access_cidrs"):
            return {**data, "endpoint_public_access": True}
        return data

    @model_validator(mode="after")
    def _check(self) -> "EksCluster":
        _check_unique_pool_names(self.node_pools)
        unknown = sorted(set(self.fixed_node_group_names) - {pool.name for pool in self.node_pools})
        if unknown:
            raise_at("EksCluster", [(("fixed_node_group_names",), f"names no node pool: {unknown} (node_pools: "
                                     f"{[pool.name for pool in self.node_pools]})", unknown)])
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise_at("EksCluster", [(("public_access_cidrs",), "endpoint_public_access is true but no CIDRs are "
                                     "given: list the networks allowed to the public API endpoint (write "
                                     "'0.0.0.0/0' to open it to everyone)", [])])
        if self.public_access_cidrs and not self.endpoint_public_access:
            raise_at("EksCluster", [(("public_access_cidrs",), "CIDRs are given but endpoint_public_access is "
                                     "false: drop them, or set endpoint_public_access true", self.public_access_cidrs)])
        return self


class AckCluster(StrictModel):
    """Alibaba Cloud ACK Pro: VPC, vswitches, `cs.ManagedKubernetes`, node pools, CSI add-ons."""

    cloud: Literal["ack"] = Field(description="Discriminator. Required.")
    region: str = Field(description="Alibaba Cloud region, e.g. 'cn-hangzhou'. Required.")
    profile: str | None = Field(default=None, description="aliyun CLI profile for the provider. Default: ambient credentials.")
    kubernetes_version: str | None = Field(
        default=None, description="ACK version, e.g. '1.33.1-aliyun.1'. Default: ACK's newest at creation.")
    cluster_spec: Literal["ack.pro.small", "ack.standard"] = Field(
        default="ack.pro.small", description="ACK edition. Default 'ack.pro.small' (Pro).")
    zone_ids: list[str] = Field(min_length=2, max_length=6, description="Zones for vswitches; at least 2. Required.")
    vpc_cidr: str = Field(default="192.168.0.0/16", description="VPC CIDR. Default '192.168.0.0/16'.")
    cni: Literal["terway", "flannel"] = Field(
        default="flannel",
        description="CNI, fixed when the cluster is created (changing it means a new cluster). 'terway' (shared ENI, "
                    "pods in their own vswitches) enforces NetworkPolicies; 'flannel' does NOT (tenant isolation is "
                    "then only rendered, and every preview warns). Set 'terway' for every new cluster. Default "
                    "'flannel', what v0.1.0 created, so an upgrade never replaces a cluster; it becomes 'terway' "
                    "in the next major version (docs/UPGRADE.md).")
    pod_cidr: str = Field(default="172.20.0.0/16", description="Pod CIDR (flannel only). Default '172.20.0.0/16'.")
    service_cidr: str = Field(default="172.21.0.0/20", description="Service CIDR. Default '172.21.0.0/20'.")
    node_pools: list[NodePool] = Field(
        default_factory=lambda: [NodePool(name="hot", tier="hot", instance_type="ecs.g8i.2xlarge"),
                                 NodePool(name="warm", tier="warm", instance_type="ecs.g8i.xlarge")],
        description="Node pools. Default: 'hot' (3x ecs.g8i.2xlarge) and 'warm' (3x ecs.g8i.xlarge).")
    ignore_scaling_changes: bool = Field(default=True, description="Ignore desired_size drift. Default true.")
    tiers: dict[TierName, AliDiskTier] = Field(
        default_factory=lambda: {"hot": AliDiskTier(category="cloud_essd", performance_level="PL1"),
                                 "warm": AliDiskTier(category="cloud_efficiency")},
        description="StorageClass per tier. Default: hot cloud_essd PL1, warm cloud_efficiency.")
    cold_tier: OssColdTier | None = Field(
        default_factory=OssColdTier, description="Cold tier bucket; null disables it. Default: OSS Archive.")

    @model_validator(mode="after")
    def _check(self) -> "AckCluster":
        _check_unique_pool_names(self.node_pools)
        return self


class TkeCluster(StrictModel):
    """Tencent Cloud TKE: VPC, subnets, managed `kubernetes.Cluster`, node pools, CBS CSI."""

    cloud: Literal["tke"] = Field(description="Discriminator. Required.")
    region: str = Field(description="Tencent Cloud region, e.g. 'ap-guangzhou'. Required.")
    profile: str | None = Field(default=None, description="tccli profile for the provider. Default: ambient credentials.")
    kubernetes_version: str = Field(default="1.32.2", description="TKE cluster version. Default '1.32.2'.")
    cluster_level: str = Field(default="L20", description="Managed cluster level (sizes the control plane). Default 'L20'.")
    availability_zones: list[str] = Field(min_length=2, max_length=6, description="Zones for subnets; at least 2. Required.")
    vpc_cidr: str = Field(default="10.0.0.0/16", description="VPC CIDR. Default '10.0.0.0/16'.")
    cluster_cidr: str = Field(default="172.16.0.0/16", description="Pod CIDR (global router). Default '172.16.0.0/16'.")
    service_cidr: str = Field(default="172.17.0.0/20", description="Service CIDR. Default '172.17.0.0/20'.")
    api_allowed_cidrs: list[Cidr] | None = Field(
        default=None,
        description="CIDRs allowed to the public API endpoint; [] for no public endpoint (the API is reached "
                    "inside the VPC only, and so must `pulumi up`). Default: a public endpoint open to "
                    "0.0.0.0/0, with a warning on every preview: what v0.1.0 created, kept because moving the "
                    "endpoint moves the kubeconfig (docs/UPGRADE.md); it becomes [] in the next major version.")
    node_pools: list[NodePool] = Field(
        default_factory=lambda: [NodePool(name="hot", tier="hot", instance_type="SA5.2XLARGE16"),
                                 NodePool(name="warm", tier="warm", instance_type="SA5.LARGE8")],
        description="Node pools. Default: 'hot' (3x SA5.2XLARGE16) and 'warm' (3x SA5.LARGE8).")
    ignore_scaling_changes: bool = Field(default=True, description="Ignore desired_capacity drift. Default true.")
    tiers: dict[TierName, CbsTier] = Field(
        default_factory=lambda: {"hot": CbsTier(disk_type="CLOUD_HSSD"), "warm": CbsTier(disk_type="CLOUD_PREMIUM")},
        description="StorageClass per tier. Default: hot CLOUD_HSSD, warm CLOUD_PREMIUM.")
    cold_tier: CosColdTier | None = Field(
        default=None, description="Cold tier COS bucket (needs the APPID). Default: none.")

    @model_validator(mode="after")
    def _check(self) -> "TkeCluster":
        _check_unique_pool_names(self.node_pools)
        return self


class TanzuNodePool(StrictModel):
    """A TKG node pool (machine deployment) for one tier."""

    name: DnsLabel = Field(description="Pool name. Required.")
    tier: TierName = Field(description="The tier whose engine pods run here. Required.")
    vm_class: str = Field(description="VM class bound to the vSphere Namespace, e.g. 'best-effort-xlarge'. Required.")
    replicas: int = Field(default=3, ge=1, description="Worker nodes. Default 3.")
    storage_class: str | None = Field(default=None, description="Node disk storage class. Default: the cluster's.")


class TanzuCluster(StrictModel):
    """vSphere with Tanzu: a TKG cluster on the Supervisor (TanzuKubernetesCluster or Cluster API Cluster)."""

    cloud: Literal["tanzu"] = Field(description="Discriminator. Required.")
    supervisor_context: str = Field(
        description="kubeconfig context of the Supervisor (from `kubectl vsphere login`). Required.")
    vsphere_namespace: DnsLabel = Field(description="vSphere Namespace the cluster is created in. Required.")
    api: Literal["cluster-api", "tkc"] = Field(
        default="cluster-api",
        description="'cluster-api': a cluster.x-k8s.io/v1beta1 Cluster of class tanzukubernetescluster; "
                    "'tkc': a run.tanzu.vmware.com/v1alpha3 TanzuKubernetesCluster. Default 'cluster-api'.")
    tkr: str = Field(
        description="Tanzu Kubernetes release, e.g. 'v1.31.4---vmware.1-fips-vkr.3' ('tkc') or "
                    "'v1.31.4+vmware.1-fips' ('cluster-api'). Required.")
    control_plane_vm_class: str = Field(default="best-effort-medium", description="Control plane VM class. Default 'best-effort-medium'.")
    control_plane_replicas: Literal[1, 3] = Field(default=3, description="Control plane nodes. Default 3.")
    default_storage_class: str = Field(description="Storage class for node disks. Required.")
    pod_cidr: str = Field(default="192.168.0.0/16", description="Pod CIDR (Antrea). Default '192.168.0.0/16'.")
    service_cidr: str = Field(default="10.96.0.0/12", description="Service CIDR. Default '10.96.0.0/12'.")
    node_pools: list[TanzuNodePool] = Field(min_length=1, description="Worker pools, one per tier. Required.")
    tiers: dict[TierName, VsphereTier] = Field(description="StorageClass per tier (vSphere policies). Required.")
    cold_tier: ExternalS3ColdTier | None = Field(default=None, description="Any S3 endpoint as cold tier. Default: none.")


class ExistingCluster(StrictModel):
    """Any conformant cluster, reached through a kubeconfig (secret config `kubeconfig`) or a context."""

    cloud: Literal["existing"] = Field(description="Discriminator. Required.")
    context: str | None = Field(
        default=None, description="kubeconfig context to use. Default: the kubeconfig's current context.")
    tiers: dict[TierName, GenericTier] = Field(
        default_factory=lambda: {"hot": GenericTier(existing_storage_class="standard"),
                                 "warm": GenericTier(existing_storage_class="standard")},
        description="StorageClass per tier. Default: both use the existing 'standard' class.")
    node_selectors: dict[TierName, dict[str, str]] = Field(
        default_factory=dict, description="nodeSelector of each tier's engine pods. Default: none.")
    cold_tier: ExternalS3ColdTier | None = Field(default=None, description="Any S3 endpoint as cold tier. Default: none.")


ClusterConfig = Annotated[
    Union[EksCluster, AckCluster, TkeCluster, TanzuCluster, ExistingCluster], Field(discriminator="cloud")]


def check_tiers_defined(cluster: EksCluster | AckCluster | TkeCluster | TanzuCluster | ExistingCluster) -> None:
    """Every cluster must define both block tiers, since tenants may pick either."""
    missing = [t for t in TIERS if t not in cluster.tiers]
    if missing:
        raise ValueError(f"cluster.tiers: missing {missing}")
