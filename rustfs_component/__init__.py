"""Pulumi component: multi-tenant S3-compatible object storage (the in-repo engine) on EKS, ACK, TKE,
vSphere with Tanzu, or any existing Kubernetes cluster.

    from rustfs_component import ObjectStoragePlatform
    platform = ObjectStoragePlatform("storage", {"cluster": {"cloud": "existing"}, "engine": {...}, "tenants": [...]})
"""

from rustfs_component.clouds import ClusterHandle
from rustfs_component.config import PlatformConfig, PoolConfig, TenantConfig
from rustfs_component.platform import ObjectStoragePlatform
from rustfs_component.tenant import Tenant, TenantPlacement

__all__ = ["ClusterHandle", "ObjectStoragePlatform", "PlatformConfig", "PoolConfig", "Tenant", "TenantConfig",
           "TenantPlacement"]
