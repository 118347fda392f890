"""The hot and warm tiers: one StorageClass each, in the cloud's own vocabulary (`Cloud.storage_class`).

Every class binds on first consumer (the volume lands in the zone the scheduler picked for the pod),
allows expansion, and retains the volume when a claim is deleted: object data is never deleted as a
side effect of removing a tenant.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.clouds import Cloud
from rustfs_component.config import TIERS, TierName


class StorageTiers(pulumi.ComponentResource):
    """StorageClasses `<class_prefix>-hot` and `<class_prefix>-warm`; `class_names` maps tier -> class name."""

    class_names: dict[TierName, str]

    def __init__(self, name: str, class_prefix: str, tiers: dict[TierName, Any], provider: k8s.Provider, *,
                 cloud: Cloud, depends_on: list[pulumi.Resource] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:tiers:StorageTiers", name, None, opts)
        self.class_names = {}
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends_on or [])
        for tier_name in TIERS:
            tier = tiers[tier_name]
            existing: str | None = getattr(tier, "existing_storage_class", None)
            if existing is not None:
                # Shared with others: use by name, never create or patch it.
                self.class_names[tier_name] = existing
                continue
            provisioner, parameters = cloud.storage_class(tier)
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
