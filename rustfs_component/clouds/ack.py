"""Alibaba Cloud ACK Pro with pulumi-alicloud: VPC, vswitches, ManagedKubernetes, node pools, CSI add-ons;
cloud-disk StorageClasses; an OSS cold tier with a RAM user per tenant."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_alicloud as alicloud

from rustfs_component.clouds.base import (TIER_NODE_LABEL, ClusterHandle, ColdTierAccess, ControllerIdentity,
                                          TenantIdentity, cloud_provider, kubernetes_provider)
from rustfs_component.clouds.network import carve
from rustfs_component.config.ingress import IngressConfig
from rustfs_component.config import AckCluster, AliDiskTier, OssColdTier


class AckClusterHandle(ClusterHandle):
    """The ACK handle: in-cluster controllers' identities are RAM users with an access key (as the cold tier's)."""

    def controller_identity(self, name: str, controller: str, *, namespace: str, service_account: str,
                            opts: pulumi.ResourceOptions, **settings: str) -> ControllerIdentity:
        """'vault-unseal' (seal "alicloudkms"): a KMS key and a RAM user `name` allowed only Encrypt, Decrypt and
        DescribeKey on it; its access key is handed as `secret_environment` (ALICLOUD_ACCESS_KEY /
        ALICLOUD_SECRET_KEY, which Vault's seal reads). Vault's alicloudkms seal authenticates with keys or an ECS
        instance role, not RRSA's OIDC token, so no RRSA role is made."""
        if controller != "vault-unseal":
            raise ValueError(f"{controller}: no RAM policy known for this controller")
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.cloud_provider))
        key = alicloud.kms.Key(f"{name}-key", description=f"Vault auto-unseal ({name})", pending_window_in_days=30,
                               opts=child)
        alicloud.kms.Alias(f"{name}-key", alias_name=f"alias/{name}", key_id=key.id, opts=child)
        user = alicloud.ram.User(name, name=name, comments=f"Vault auto-unseal of {namespace}/{service_account}",
                                 opts=child)
        policy = alicloud.ram.Policy(
            name, policy_name=name,
            policy_document=key.id.apply(lambda key_id: vault_unseal_policy(self.region, key_id or "")), opts=child)
        attached = alicloud.ram.UserPolicyAttachment(name, user_name=user.name, policy_name=policy.policy_name,
                                                     policy_type="Custom", opts=child)
        access_key = alicloud.ram.AccessKey(name, user_name=user.name,
                                            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                                                depends_on=[attached])))
        return ControllerIdentity(
            service_account_annotations={}, settings={"region": self.region, "kms_key_id": key.id},
            secret_environment={"ALICLOUD_ACCESS_KEY": pulumi.Output.secret(access_key.id),
                                "ALICLOUD_SECRET_KEY": pulumi.Output.secret(access_key.secret)})


def vault_unseal_policy(region: str, key_id: str) -> str:
    """Vault's alicloudkms seal: Encrypt, Decrypt and DescribeKey on its one key only."""
    return json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
         "Resource": [f"acs:kms:{region}:*:key/{key_id}"]}]})


class AckClusterResource(pulumi.ComponentResource):
    """An ACK Pro cluster; exposes `handle` and `alicloud_provider` (for the cold tier): the caller's when an
    `alicloud` provider reaches this component through `opts.provider`/`providers`, else its own."""

    handle: ClusterHandle
    alicloud_provider: pulumi.ProviderResource
    cluster: alicloud.cs.ManagedKubernetes

    def __init__(self, name: str, config: AckCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:ack:Cluster", name, None, opts)
        self.alicloud_provider = cloud_provider(self, "alicloud", lambda: alicloud.Provider(
            f"{name}-alicloud", region=config.region, profile=config.profile, opts=pulumi.ResourceOptions(parent=self)))
        child = pulumi.ResourceOptions(parent=self, provider=self.alicloud_provider)
        private_cidrs, _ = carve(config.vpc_cidr, len(config.zone_ids))
        vpc = alicloud.vpc.Network(f"{name}-vpc", vpc_name=f"{name}-vpc", cidr_block=config.vpc_cidr, opts=child)
        vswitches = [
            alicloud.vpc.Switch(f"{name}-{zone}", vswitch_name=f"{name}-{zone}", vpc_id=vpc.id,
                                cidr_block=private_cidrs[index], zone_id=zone, opts=child)
            for index, zone in enumerate(config.zone_ids)]
        vswitch_ids = [v.id for v in vswitches]
        network = _cni(name, config, vpc, child)

        self.cluster = alicloud.cs.ManagedKubernetes(
            f"{name}-cluster",
            name=name,
            cluster_spec=config.cluster_spec,
            version=config.kubernetes_version,
            vswitch_ids=vswitch_ids,
            **network,
            service_cidr=config.service_cidr,
            new_nat_gateway=True,
            slb_internet_enabled=True,
            addons=[network_addon(config.cni), {"name": "csi-plugin"}, {"name": "csi-provisioner"},
                    {"name": "storage-operator"}],
            # Load balancers made by in-cluster controllers go with the cluster, so destroy never stalls
            # on a VPC still holding them.
            delete_options=[{"resource_type": "SLB", "delete_mode": "delete"},
                            {"resource_type": "ALB", "delete_mode": "delete"}],
            opts=child)

        ignore = ["desiredSize"] if config.ignore_scaling_changes else []
        node_pools = [
            alicloud.cs.NodePool(
                f"{name}-{pool.name}",
                node_pool_name=f"{name}-{pool.name}",
                cluster_id=self.cluster.id,
                vswitch_ids=vswitch_ids,
                instance_types=[pool.instance_type],
                system_disk_category="cloud_essd",
                system_disk_size=pool.system_disk_gib,
                desired_size=str(pool.desired_size),  # a string in this SDK
                scaling_config={"enable": True, "min_size": pool.min_size, "max_size": pool.max_size},
                labels=[{"key": TIER_NODE_LABEL, "value": pool.tier}],
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=ignore)))
            for pool in config.node_pools]

        credential = alicloud.cs.get_cluster_credential_output(
            cluster_id=self.cluster.id, opts=pulumi.InvokeOutputOptions(parent=self, provider=self.alicloud_provider))
        kubeconfig = pulumi.Output.secret(credential.kube_config)
        # The cluster ID (`c...`) is ACK's and new with every cluster: only a new cluster replaces the provider.
        provider = kubernetes_provider(name, kubeconfig, parent=self, cluster_identifier=self.cluster.id)
        self.handle = AckClusterHandle(kubeconfig=kubeconfig, provider=provider, ready=node_pools,
                                    cloud_provider=self.alicloud_provider, region=config.region)
        self.register_outputs({"kubeconfig": kubeconfig, "clusterId": self.cluster.id})


def network_addon(cni: str) -> alicloud.cs.ManagedKubernetesAddonArgsDict:
    """The CNI add-on: Terway (shared ENI) with its NetworkPolicy support on, or flannel (no enforcement)."""
    if cni == "flannel":
        return {"name": "flannel"}
    return {"name": "terway-eniip", "config": json.dumps({"IPVlan": "false", "NetworkPolicy": "true"})}


def _cni(name: str, config: AckCluster, vpc: alicloud.vpc.Network, child: pulumi.ResourceOptions) -> dict[str, Any]:
    """The cluster's pod network arguments: Terway's pod vswitches (one per zone, from the 7th eighth of the VPC,
    which no other subnet uses), or flannel's pod CIDR. ACK reads both only when it creates the cluster."""
    if config.cni == "flannel":
        pulumi.log.warn(f"cluster.cni is 'flannel' (the default until the next major version): ACK cluster {name} "
                        "will NOT enforce the tenants' NetworkPolicies (tenant isolation is only rendered); set "
                        "cluster.cni to 'terway' for a new cluster (docs/UPGRADE.md)")
        return {"pod_cidr": config.pod_cidr}
    pod_blocks = list(list(ipaddress.ip_network(config.vpc_cidr).subnets(prefixlen_diff=3))[6].subnets(prefixlen_diff=3))
    pod_vswitches = [
        alicloud.vpc.Switch(f"{name}-pods-{zone}", vswitch_name=f"{name}-pods-{zone}", vpc_id=vpc.id,
                            cidr_block=str(pod_blocks[index]), zone_id=zone, opts=child)
        for index, zone in enumerate(config.zone_ids)]
    return {"pod_vswitch_ids": [v.id for v in pod_vswitches]}


# The engine writes to OSS through its S3-compatible API, which spells storage classes as S3 does. Only Archive:
# ColdArchive has no real-time access (the config refuses it).
OSS_S3_STORAGE_CLASSES = {"Archive": "GLACIER"}


def oss_cold_tier(name: str, config: OssColdTier, tenants: Sequence[TenantIdentity], region: str,
                  child: pulumi.ResourceOptions) -> dict[str, ColdTierAccess]:
    """An OSS bucket (encrypted, Archive, its Archive objects readable in real time) and a RAM user with a key per
    tenant."""
    bucket = alicloud.oss.Bucket(
        f"{name}-bucket", storage_class=config.storage_class, force_destroy=config.force_destroy,
        server_side_encryption_rule={"sse_algorithm": "AES256"}, opts=child)
    # The engines read cold objects in place (a ranged GET, at once); an Archive object answers 403 InvalidObjectState
    # until restored, unless the bucket has real-time access of Archive objects (OSS PutBucketArchiveDirectRead;
    # retrieval is billed per GB read). Deleting this resource leaves the setting as it is (the provider cannot unset it).
    alicloud.oss.BucketArchiveDirectRead(f"{name}-bucket", bucket=bucket.bucket, enabled=True, opts=child)
    access: dict[str, ColdTierAccess] = {}
    for t in tenants:
        prefix = f"{t.tenant}/"
        user = alicloud.ram.User(f"{name}-{t.tenant}", name=f"{name}-{t.tenant}",
                                 comments=f"cold tier access of tenant {t.tenant}", opts=child)
        policy = alicloud.ram.Policy(
            f"{name}-{t.tenant}", policy_name=f"{name}-{t.tenant}",
            policy_document=bucket.bucket.apply(lambda b, p=prefix: json.dumps({"Version": "1", "Statement": [
                {"Effect": "Allow", "Action": ["oss:ListObjects"], "Resource": [f"acs:oss:*:*:{b}"],
                 "Condition": {"StringLike": {"oss:Prefix": [f"{p}*"]}}},
                {"Effect": "Allow", "Action": ["oss:GetObject", "oss:PutObject", "oss:DeleteObject",
                                               "oss:RestoreObject", "oss:AbortMultipartUpload"],
                 "Resource": [f"acs:oss:*:*:{b}/{p}*"]}]})),
            opts=child)
        alicloud.ram.UserPolicyAttachment(f"{name}-{t.tenant}", user_name=user.name, policy_name=policy.policy_name,
                                          policy_type="Custom", opts=child)
        key = alicloud.ram.AccessKey(f"{name}-{t.tenant}", user_name=user.name, opts=child)
        access[t.tenant] = ColdTierAccess(
            endpoint=f"https://oss-{region}.aliyuncs.com", region=region, bucket=bucket.bucket, prefix=prefix,
            storage_class=OSS_S3_STORAGE_CLASSES[config.storage_class], access_key_id=key.id,
            secret_access_key=pulumi.Output.secret(key.secret),
            addressing="virtual")  # OSS serves only virtual-hosted-style requests
    return access


class Ack:
    """`cloud: ack` (extra `[ack]`)."""

    cloud = "ack"
    explicit_arguments: frozenset[str] = frozenset()

    def create_cluster(self, name: str, config: AckCluster, *, opts: pulumi.ResourceOptions,
                       **explicit: Any) -> ClusterHandle:
        return AckClusterResource(f"{name}-ack", config, opts=opts).handle

    def storage_class(self, tier: AliDiskTier) -> tuple[str, dict[str, str]]:
        params = {"type": tier.category, "fstype": "xfs", "encrypted": "true"}
        if tier.performance_level is not None:
            params["performanceLevel"] = tier.performance_level
        return "diskplugin.csi.alibabacloud.com", params

    def create_cold_tier(self, name: str, config: OssColdTier, tenants: Sequence[TenantIdentity],
                         handle: ClusterHandle, *, opts: pulumi.ResourceOptions,
                         secret_access_key: pulumi.Input[str] | None) -> dict[str, ColdTierAccess]:
        return oss_cold_tier(name, config, tenants, handle.region, opts)

    def ingress_service_annotations(self, config: IngressConfig) -> dict[str, str]:
        # A CLB (SLB) from the cloud-controller-manager: 'address-type' internet | intranet (Alibaba Cloud doc
        # "Configure a Classic Load Balancer by using annotations", alibabacloud.com/help/en/document_detail/86531.html;
        # CCM docs/usage.md). An NLB instead needs loadBalancerClass alibabacloud.com/nlb and zone maps: give them in
        # ingress.service_annotations if wanted (docs/component.md).
        address = "intranet" if config.scheme == "internal" else "internet"
        return {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": address}


CLOUD = Ack()
