"""Alibaba Cloud ACK Pro with pulumi-alicloud: VPC, vswitches, ManagedKubernetes, node pools, CSI add-ons."""

from __future__ import annotations

import pulumi
import pulumi_alicloud as alicloud

from rustfs_component.clusters.handle import TIER_NODE_LABEL, ClusterHandle, kubernetes_provider
from rustfs_component.clusters.network import carve
from rustfs_component.config import AckCluster


class AckClusterResource(pulumi.ComponentResource):
    """An ACK Pro cluster; exposes `handle` and `alicloud_provider` (for the cold tier)."""

    handle: ClusterHandle
    alicloud_provider: alicloud.Provider
    cluster: alicloud.cs.ManagedKubernetes

    def __init__(self, name: str, config: AckCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:ack:Cluster", name, None, opts)
        self.alicloud_provider = alicloud.Provider(f"{name}-alicloud", region=config.region, profile=config.profile,
                                                   opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=self.alicloud_provider)
        private_cidrs, _ = carve(config.vpc_cidr, len(config.zone_ids))
        vpc = alicloud.vpc.Network(f"{name}-vpc", vpc_name=f"{name}-vpc", cidr_block=config.vpc_cidr, opts=child)
        vswitches = [
            alicloud.vpc.Switch(f"{name}-{zone}", vswitch_name=f"{name}-{zone}", vpc_id=vpc.id,
                                cidr_block=private_cidrs[index], zone_id=zone, opts=child)
            for index, zone in enumerate(config.zone_ids)]
        vswitch_ids = [v.id for v in vswitches]

        self.cluster = alicloud.cs.ManagedKubernetes(
            f"{name}-cluster",
            name=name,
            cluster_spec=config.cluster_spec,
            version=config.kubernetes_version,
            vswitch_ids=vswitch_ids,
            pod_cidr=config.pod_cidr,
            service_cidr=config.service_cidr,
            new_nat_gateway=True,
            slb_internet_enabled=True,
            addons=[{"name": "flannel"}, {"name": "csi-plugin"}, {"name": "csi-provisioner"},
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
        provider = kubernetes_provider(name, kubeconfig, parent=self)
        self.handle = ClusterHandle(kubeconfig=kubeconfig, provider=provider, ready=node_pools)
        self.register_outputs({"kubeconfig": kubeconfig, "clusterId": self.cluster.id})
