"""Typed, validated configuration of the platform (pydantic; unknown keys are rejected)."""

from rustfs_component.config.base import TIERS, TierName, quantity_value
from rustfs_component.config.clusters import (AckCluster, ClusterConfig, EksCluster, ExistingCluster, NodePool,
                                              TanzuCluster, TanzuNodePool, TkeCluster)
from rustfs_component.config.lifecycle import LifecycleDefault, LifecycleRule, LifecycleTransition
from rustfs_component.config.platform import EngineImage, NetworkAllowances, PlatformConfig
from rustfs_component.config.tenants import PoolConfig, ResourceAmounts, Resources, TenantConfig
from rustfs_component.config.tls import AcmeIssuer, TlsConfig
from rustfs_component.config.tiers import (AliDiskTier, CbsTier, CosColdTier, EbsTier, ExternalS3ColdTier,
                                           GenericTier, OssColdTier, S3ColdTier, VsphereTier)

__all__ = [
    "TIERS", "TierName", "quantity_value",
    "AckCluster", "ClusterConfig", "EksCluster", "ExistingCluster", "NodePool", "TanzuCluster", "TanzuNodePool",
    "TkeCluster", "EngineImage", "NetworkAllowances", "PlatformConfig", "PoolConfig", "ResourceAmounts",
    "Resources", "TenantConfig", "AliDiskTier", "CbsTier", "CosColdTier", "EbsTier", "ExternalS3ColdTier",
    "GenericTier", "OssColdTier", "S3ColdTier", "VsphereTier", "AcmeIssuer", "TlsConfig",
    "LifecycleDefault", "LifecycleRule", "LifecycleTransition",
]
