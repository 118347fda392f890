"""The hot and warm tiers: one StorageClass each, in the cloud's own vocabulary.

Every class binds on first consumer (the volume lands in the zone the scheduler picked for the pod),
allows expansion, and retains the volume when a claim is deleted: object data is never deleted as a
side effect of removing a tenant.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.config import (TIERS, AliDiskTier, CbsTier, EbsTier, GenericTier, TierName,
                                     VsphereTier)

AnyTier = EbsTier | AliDiskTier | CbsTier | VsphereTier | GenericTier


def storage_class_parameters(tier: AnyTier) -> tuple[str, dict[str, str]]:
    """(provisioner, parameters) of a tier's StorageClass."""
    if isinstance(tier, EbsTier):
        params = {"type": tier.volume_type, "encrypted": "true", "csi.storage.k8s.io/fstype": "xfs"}
        if tier.iops is not None:
            params["iops"] = str(tier.iops)
        if tier.throughput_mib is not None:
            params["throughput"] = str(tier.throughput_mib)
        return "ebs.csi.aws.com", params
    if isinstance(tier, AliDiskTier):
        params = {"type": tier.category, "fstype": "xfs", "encrypted": "true"}
        if tier.performance_level is not None:
            params["performanceLevel"] = tier.performance_level
        return "diskplugin.csi.alibabacloud.com", params
    if isinstance(tier, CbsTier):
        return "com.tencent.cloud.csi.cbs", {"diskType": tier.disk_type}
    if isinstance(tier, VsphereTier):
        # Paravirtual CSI in a TKG cluster: the Supervisor storage class does the provisioning.
        return "csi.vsphere.vmware.com", {"svStorageClass": tier.storage_policy}
    if tier.provisioner is None:
        raise ValueError("a tier with existing_storage_class has no StorageClass to render")
    return tier.provisioner, dict(tier.parameters)


class StorageTiers(pulumi.ComponentResource):
    """StorageClasses `<class_prefix>-hot` and `<class_prefix>-warm`; `class_names` maps tier -> class name."""

    class_names: dict[TierName, str]

    def __init__(self, name: str, class_prefix: str, tiers: dict[TierName, AnyTier], provider: k8s.Provider,
                 depends_on: list[pulumi.Resource] | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:tiers:StorageTiers", name, None, opts)
        self.class_names = {}
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends_on or [])
        for tier_name in TIERS:
            tier = tiers[tier_name]
            if isinstance(tier, GenericTier) and tier.existing_storage_class is not None:
                # Shared with others: use by name, never create or patch it.
                self.class_names[tier_name] = tier.existing_storage_class
                continue
            provisioner, parameters = storage_class_parameters(tier)
            class_name = f"{class_prefix}-{tier_name}"
            k8s.storage.v1.StorageClass(
                f"{name}-{tier_name}",
                metadata={"name": class_name,
                          "labels": {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": class_prefix,
                                     "rustfs.io/tier": tier_name}},
                provisioner=provisioner,
                parameters=parameters,
                volume_binding_mode="WaitForFirstConsumer",
                allow_volume_expansion=True,
                reclaim_policy="Retain",
                opts=child)
            self.class_names[tier_name] = class_name
        self.register_outputs({"classNames": dict(self.class_names)})
