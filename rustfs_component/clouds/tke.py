"""Tencent Cloud TKE with tencentcloud-iac-pulumi: VPC, subnets, NAT, managed cluster, node pools, CBS CSI;
CBS StorageClasses; a COS cold tier with a CAM user per tenant."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import tencentcloud_iac_pulumi as tencentcloud

from rustfs_component.clouds.base import (TIER_NODE_LABEL, ClusterHandle, ColdTierAccess, TenantIdentity,
                                          cloud_provider, kubernetes_provider)
from rustfs_component.clouds.network import carve
from rustfs_component.config.ingress import IngressConfig
from rustfs_component.config import CbsTier, CosColdTier, TkeCluster


# The console's "NetworkPolicy" add-on; the API names add-ons by their lowercase chart name (like "cbs").
NETWORK_POLICY_ADDON = "networkpolicy"


class TkeClusterResource(pulumi.ComponentResource):
    """A managed TKE cluster; exposes `handle` and `tencentcloud_provider` (for the cold tier): the caller's when
    a `tencentcloud` provider reaches this component through `opts.provider`/`providers`, else its own.

    The API endpoint is the intranet one (in the first node subnet; `pulumi up` must run where the VPC is
    reachable) unless `api_allowed_cidrs` lists networks: then it is the public one, whose security group
    admits exactly those.
    """

    handle: ClusterHandle
    tencentcloud_provider: pulumi.ProviderResource
    cluster: tencentcloud.kubernetes.Cluster

    def __init__(self, name: str, config: TkeCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:tke:Cluster", name, None, opts)
        self.tencentcloud_provider = cloud_provider(self, "tencentcloud", lambda: tencentcloud.Provider(
            f"{name}-tencentcloud", region=config.region, profile=config.profile, opts=pulumi.ResourceOptions(parent=self)))
        child = pulumi.ResourceOptions(parent=self, provider=self.tencentcloud_provider)
        private_cidrs, public_cidrs = carve(config.vpc_cidr, len(config.availability_zones))
        vpc = tencentcloud.vpc.Instance(f"{name}-vpc", name=f"{name}-vpc", cidr_block=config.vpc_cidr, opts=child)
        subnets = [
            tencentcloud.subnet.Instance(f"{name}-{zone}", name=f"{name}-{zone}", vpc_id=vpc.id,
                                         availability_zone=zone, cidr_block=private_cidrs[index], opts=child)
            for index, zone in enumerate(config.availability_zones)]
        nat_subnet = tencentcloud.subnet.Instance(
            f"{name}-nat", name=f"{name}-nat", vpc_id=vpc.id, availability_zone=config.availability_zones[0],
            cidr_block=public_cidrs[0], opts=child)
        eip = tencentcloud.eip.Instance(f"{name}-nat", name=f"{name}-nat", internet_max_bandwidth_out=100, opts=child)
        nat = tencentcloud.nat.Gateway(f"{name}-nat", name=f"{name}-nat", vpc_id=vpc.id, subnet_id=nat_subnet.id,
                                       assigned_eip_sets=[eip.public_ip], bandwidth=100, max_concurrent=1000000, opts=child)
        tencentcloud.route.TableEntry(f"{name}-default-route", route_table_id=vpc.default_route_table_id,
                                      destination_cidr_block="0.0.0.0/0", next_type="NAT", next_hub=nat.id, opts=child)
        subnet_ids = [s.id for s in subnets]

        self.cluster = tencentcloud.kubernetes.Cluster(
            f"{name}-cluster",
            cluster_name=name,
            cluster_version=config.kubernetes_version,
            cluster_deploy_type="MANAGED_CLUSTER",
            cluster_level=config.cluster_level,
            vpc_id=vpc.id,
            network_type="GR",
            cluster_cidr=config.cluster_cidr,
            service_cidr=config.service_cidr,
            container_runtime="containerd",
            opts=child)
        # CBS CSI is the storage driver of every tier's StorageClass.
        cbs_csi = tencentcloud.kubernetes.Addon(f"{name}-cbs-csi", cluster_id=self.cluster.id, addon_name="cbs",
                                                opts=child)

        ignore = ["desiredCapacity"] if config.ignore_scaling_changes else []
        node_pools = [
            tencentcloud.kubernetes.NodePool(
                f"{name}-{pool.name}",
                name=f"{name}-{pool.name}",
                cluster_id=self.cluster.id,
                vpc_id=vpc.id,
                subnet_ids=subnet_ids,
                min_size=pool.min_size,
                max_size=pool.max_size,
                desired_capacity=pool.desired_size,
                enable_auto_scale=True,
                multi_zone_subnet_policy="EQUALITY",
                labels={TIER_NODE_LABEL: pool.tier},
                auto_scaling_config={"instance_type": pool.instance_type, "system_disk_type": "CLOUD_BSSD",
                                     "system_disk_size": pool.system_disk_gib, "enhanced_security_service": False,
                                     "public_ip_assigned": False},
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=ignore)))
            for pool in config.node_pools]

        # NetworkPolicies are enforced only by TKE's NetworkPolicy add-on (kube-router, DaemonSet `networkpolicy`).
        network_policy = tencentcloud.kubernetes.Addon(
            f"{name}-network-policy", cluster_id=self.cluster.id, addon_name=NETWORK_POLICY_ADDON,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=node_pools)))
        # TKE opens the API endpoint only once the cluster has nodes, hence a separate endpoint resource.
        endpoint_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=node_pools))
        api_cidrs = config.api_allowed_cidrs
        if api_cidrs is None:
            pulumi.log.warn(f"cluster.api_allowed_cidrs is not set: the API of TKE cluster {name} is public to "
                            "0.0.0.0/0 (the default until the next major version); list your admins' networks, "
                            "or [] for the intranet endpoint only (docs/UPGRADE.md)")
            api_cidrs = ["0.0.0.0/0"]
        if api_cidrs:
            api_sg = tencentcloud.security.Group(f"{name}-api", name=f"{name}-api",
                                                 description="Kubernetes API access", opts=child)
            tencentcloud.security.GroupRuleSet(
                f"{name}-api", security_group_id=api_sg.id,
                ingresses=[{"action": "ACCEPT", "cidr_block": cidr, "protocol": "TCP", "port": "443",
                            "description": "Kubernetes API"} for cidr in api_cidrs],
                opts=child)
            endpoint = tencentcloud.kubernetes.ClusterEndpoint(
                f"{name}-endpoint", cluster_id=self.cluster.id, cluster_internet=True,
                cluster_internet_security_group=api_sg.id, opts=endpoint_opts)
            kubeconfig = pulumi.Output.secret(endpoint.kube_config)
        else:  # no public endpoint at all: the API answers inside the VPC only
            endpoint = tencentcloud.kubernetes.ClusterEndpoint(
                f"{name}-endpoint", cluster_id=self.cluster.id, cluster_intranet=True,
                cluster_intranet_subnet_id=subnet_ids[0], opts=endpoint_opts)
            kubeconfig = pulumi.Output.secret(endpoint.kube_config_intranet)
        # The cluster ID (`cls-...`) is TKE's and new with every cluster: only a new cluster replaces the provider.
        provider = kubernetes_provider(name, kubeconfig, parent=self, cluster_identifier=self.cluster.id)
        self.handle = ClusterHandle(kubeconfig=kubeconfig, provider=provider,
                                    ready=[*node_pools, cbs_csi, network_policy],
                                    cloud_provider=self.tencentcloud_provider, region=config.region)
        self.register_outputs({"kubeconfig": kubeconfig, "clusterId": self.cluster.id})


# The class the engines write COS objects with (COS's S3 API takes x-amz-storage-class STANDARD_IA): COS ARCHIVE and
# DEEP_ARCHIVE answer a GET with 403 InvalidObjectState until restored, and the engines read cold objects in place.
COS_WRITTEN_CLASS = "STANDARD_IA"


def cos_cold_tier(name: str, config: CosColdTier, tenants: Sequence[TenantIdentity], region: str,
                  child: pulumi.ResourceOptions) -> dict[str, ColdTierAccess]:
    """A COS bucket (private, encrypted) and a CAM user per tenant; the engines write STANDARD_IA, read at once."""
    if config.storage_class != COS_WRITTEN_CLASS:
        pulumi.log.warn(f"cluster.cold_tier.storage_class is '{config.storage_class}' (v0.1.0's choice): COS archive "
                        f"objects cannot be read before a restore, and the engines read cold objects in place, so "
                        f"they write {COS_WRITTEN_CLASS}. Set storage_class: {COS_WRITTEN_CLASS} to say so (that "
                        f"replaces each tenant's <tenant>-cold-tier Secret once, with the same keys: docs/UPGRADE.md); "
                        f"'{config.storage_class}' will be refused in the next major version.")
    bucket_name = f"{name}-{config.app_id}"
    bucket = tencentcloud.cos.Bucket(
        f"{name}-bucket", bucket=bucket_name, acl="private", encryption_algorithm="AES256",
        force_clean=config.force_destroy,  # no lifecycle rules: the engines write in the storage class and expire
        opts=child)
    access: dict[str, ColdTierAccess] = {}
    for t in tenants:
        prefix = f"{t.tenant}/"
        resource = f"qcs::cos:{region}:uid/{config.app_id}:{bucket_name}/{prefix}*"
        user = tencentcloud.cam.User(f"{name}-{t.tenant}", name=f"{name}-{t.tenant}", use_api=True,
                                     console_login=False, force_delete=True,
                                     remark=f"cold tier access of tenant {t.tenant}", opts=child)
        policy = tencentcloud.cam.Policy(f"{name}-{t.tenant}", name=f"{name}-{t.tenant}", document=json.dumps({
            "version": "2.0", "statement": [{"effect": "allow", "action": ["name/cos:*"], "resource": [resource]}]}),
            opts=child)
        tencentcloud.cam.UserPolicyAttachment(f"{name}-{t.tenant}", user_name=user.name, policy_id=policy.id,
                                              opts=child)
        access[t.tenant] = ColdTierAccess(
            endpoint=f"https://cos.{region}.myqcloud.com", region=region, bucket=bucket.bucket, prefix=prefix,
            storage_class=COS_WRITTEN_CLASS, configured_storage_class=config.storage_class,
            access_key_id=user.secret_id, secret_access_key=pulumi.Output.secret(user.secret_key),
            addressing="virtual")  # COS serves only virtual-hosted-style requests
    return access


class Tke:
    """`cloud: tke` (extra `[tke]`)."""

    cloud = "tke"
    explicit_arguments: frozenset[str] = frozenset()

    def create_cluster(self, name: str, config: TkeCluster, *, opts: pulumi.ResourceOptions,
                       **explicit: Any) -> ClusterHandle:
        return TkeClusterResource(f"{name}-tke", config, opts=opts).handle

    def storage_class(self, tier: CbsTier) -> tuple[str, dict[str, str]]:
        return "com.tencent.cloud.csi.cbs", {"diskType": tier.disk_type}

    def create_cold_tier(self, name: str, config: CosColdTier, tenants: Sequence[TenantIdentity],
                         handle: ClusterHandle, *, opts: pulumi.ResourceOptions,
                         secret_access_key: pulumi.Input[str] | None) -> dict[str, ColdTierAccess]:
        return cos_cold_tier(name, config, tenants, handle.region, opts)

    def ingress_service_annotations(self, config: IngressConfig) -> dict[str, str]:
        # A CLB from TKE's service controller: public by default; 'qcloud-loadbalancer-internal-subnetid' makes it an
        # internal CLB in that subnet (Tencent Cloud doc "Service Annotation", tencentcloud.com/document/product/457/39142).
        if config.scheme == "internal" and config.internal_subnet_id is not None:
            return {"service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": config.internal_subnet_id}
        return {}


CLOUD = Tke()
