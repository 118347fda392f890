"""The cold tier: a bucket in the cloud's own object store, and per-tenant credentials to reach it.

Each tenant gets its own prefix (`<tenant>/`) and, where the cloud allows, its own identity scoped to
that prefix: an IRSA role (EKS), a RAM user (ACK) or a CAM user (TKE). On Tanzu and existing clusters
the tier is any S3 endpoint with one shared key pair. What is built is the cloud module's
(`Cloud.create_cold_tier`); this component is their common parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from rustfs_component.clouds import Cloud, ClusterHandle, ColdTierAccess, TenantIdentity


class ColdTier(pulumi.ComponentResource):
    """The cold bucket and one grant per tenant; `access[tenant]` is what that tenant is handed.

    Children use the cluster's cloud provider (`handle.cloud_provider`)."""

    access: dict[str, ColdTierAccess]

    def __init__(self, name: str, config: Any, tenants: Sequence[TenantIdentity], *, cloud: Cloud,
                 handle: ClusterHandle, secret_access_key: pulumi.Input[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:tiers:ColdTier", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=handle.cloud_provider)
        self.access = cloud.create_cold_tier(name, config, tenants, handle, opts=child,
                                             secret_access_key=secret_access_key)
        self.register_outputs({"buckets": {t: a.bucket for t, a in self.access.items()}})
