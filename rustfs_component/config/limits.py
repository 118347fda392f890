"""What the clouds and Kubernetes refuse, checked when the config loads (never half-way through `pulumi up`).

Two tables:

- `derived_names(...)`: every name the component derives from the platform `name` (and from node pool and
  tenant names), as the cloud modules build it, with the provider's limit. A Pulumi auto-name is the logical
  name plus `-` and 7 random characters, so those count 8 more.
- `volume_size_error(...)` / `EBS_*`, `ALI_DISK_GIB`, `CBS_GIB`: the sizes and options each volume type takes.

Errors are pydantic errors at the offending field (`loc`), raised with `raise_at`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from rustfs_component.config.base import quantity_value

Loc = tuple[str | int, ...]

# ---- errors at a field ---------------------------------------------------------------------------------


def raise_at(title: str, errors: Sequence[tuple[Loc, str, Any]]) -> None:
    """Raise one ValidationError whose errors sit at `loc` (relative to the model being validated).

    Raised inside a validator, pydantic prefixes each `loc` with the model's own position, so the user sees
    e.g. `tenants.0.pools.0.drive_size` or `cluster.eks.public_access_cidrs`."""
    if errors:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("value_error", "{message}", {"message": message}),
                             loc=loc, input=value)
            for loc, message, value in errors])


# ---- names ---------------------------------------------------------------------------------------------

AUTONAME_SUFFIX = 8
"""Pulumi's auto-name: `<logical name>-` plus 7 random characters (pulumi-terraform-bridge AutoName)."""
NAME_PREFIX_SUFFIX = 26
"""What the AWS provider appends to a `..._prefix` name (terraform-provider-aws `id.UniqueIDSuffixLength`)."""

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
RESERVED_NAMESPACES = ("default",)
RESERVED_NAMESPACE_PREFIX = "kube-"


def check_dns_subdomain(value: str) -> str:
    """A Kubernetes object name such as a StorageClass's: RFC 1123 subdomain, at most 253 characters."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes object name (lowercase RFC 1123 subdomain, "
                         f"at most 253 characters)")
    return value


def check_s3_bucket_name(value: str) -> str:
    """S3 general purpose bucket naming rules (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
    3-63 characters; lowercase letters, digits, dots and hyphens; begins and ends with a letter or digit;
    no `..`; not an IP address; not `xn--`/`sthree-` prefixed, not `-s3alias`/`--ol-s3` suffixed."""
    problems = []
    if not 3 <= len(value) <= 63:
        problems.append(f"is {len(value)} characters (3-63)")
    if not _S3_BUCKET.match(value):
        problems.append("may hold only lowercase letters, digits, '.' and '-', beginning and ending with a letter or digit")
    if ".." in value:
        problems.append("has '..'")
    try:
        ipaddress.IPv4Address(value)
        problems.append("is an IP address")
    except ValueError:
        pass
    if value.startswith(("xn--", "sthree-")) or value.endswith(("-s3alias", "--ol-s3")):
        problems.append("uses a reserved prefix or suffix")
    if problems:
        raise ValueError(f"bucket {value!r} " + "; ".join(problems))
    return value


def check_cidr(value: str) -> str:
    """An IPv4 or IPv6 network without host bits, e.g. '203.0.113.0/24'."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"not a CIDR such as '203.0.113.0/24': {exc}") from None


def check_namespace(value: str) -> str:
    """A namespace the component creates: never `default` or a `kube-` system namespace (they exist)."""
    if value in RESERVED_NAMESPACES or value.startswith(RESERVED_NAMESPACE_PREFIX):
        raise ValueError(f"namespace {value!r} is reserved by Kubernetes (the component creates its namespaces)")
    return value


@dataclass(frozen=True)
class DerivedName:
    """A name the component gives a cloud or Kubernetes object; `loc` is the field to shorten."""

    what: str
    value: str
    limit: int
    loc: Loc
    appended: int = 0  # characters the provider appends (auto-names, bucket_prefix)
    source: str = ""

    @property
    def length(self) -> int:
        return len(self.value) + self.appended

    def error(self) -> str | None:
        if self.length <= self.limit:
            return None
        extra = f" + {self.appended} generated" if self.appended else ""
        return (f"{self.what} {self.value!r} is {len(self.value)}{extra} characters, over the limit of "
                f"{self.limit} ({self.source}); shorten the name")


# Limits, with where each is documented. Names mirror the cloud modules (rustfs_component/clusters/*,
# cold_tier.py); tests/component/test_validation.py checks this table against the rendered plans.
EKS_CLUSTER_NAME = 100        # pulumi_aws.eks.Cluster `name`: 1-100 characters
EKS_NODE_GROUP_NAME = 63      # pulumi_aws.eks.NodeGroup `node_group_name`: can't be longer than 63 characters
IAM_ROLE_NAME = 64            # IAM quotas: role names up to 64 characters
S3_BUCKET_PREFIX = 37         # pulumi_aws.s3.Bucket `bucket_prefix`: at most 37 characters (26 are appended)
ACK_NAME = 63                 # ACK CreateCluster / CreateClusterNodePool `name`: 1-63 characters
ALI_VSWITCH_NAME = 128        # pulumi_alicloud.vpc.Switch `vswitch_name`: 1-128 characters
OSS_BUCKET_NAME = 63          # OSS bucket naming: 3-63 lowercase letters, digits and hyphens
RAM_USER_NAME = 64            # pulumi_alicloud.ram.User `name`: 1-64 characters
RAM_POLICY_NAME = 128         # pulumi_alicloud.ram.Policy `policy_name`: 1-128 characters
TKE_NODE_POOL_NAME = 25       # tencentcloud kubernetes.NodePool `name`: does not exceed 25 characters
CAM_USER_NAME = 64            # Tencent CAM AddUser `Name`: up to 64 characters
COS_DOMAIN = 60               # COS bucket naming: `<BucketName-APPID>.cos.<region>.myqcloud.com` up to 60 characters
DNS_LABEL = 63                # Kubernetes names used as label values (Cluster API cluster names)
DNS_SUBDOMAIN = 253           # Kubernetes object names (StorageClass, Secret, ResourceQuota)


def derived_names(name: str, cluster: Any, tenants: Sequence[Any]) -> list[DerivedName]:
    """Every derived name of platform `name` with `cluster` (a cluster model) and `tenants` (TenantConfig)."""
    at_name: Loc = ("name",)
    cloud: str = cluster.cloud
    names = [DerivedName(f"StorageClass of tier {tier}", f"{name}-{tier}", DNS_SUBDOMAIN, at_name,
                         source="Kubernetes object name") for tier in ("hot", "warm")]
    names.append(DerivedName("ResourceQuota", f"{name}-tenants", DNS_SUBDOMAIN, at_name, source="Kubernetes object name"))
    cold = f"{name}-cold"
    has_cold = getattr(cluster, "cold_tier", None) is not None and bool(tenants)

    def pools(prefix: str, limit: int, what: str, source: str) -> list[DerivedName]:
        return [DerivedName(what, f"{prefix}-{pool.name}", limit, ("cluster", cloud, "node_pools", index, "name"),
                            source=source) for index, pool in enumerate(cluster.node_pools)]

    def per_tenant(what: str, limit: int, source: str, appended: int = 0) -> list[DerivedName]:
        return [DerivedName(what, f"{cold}-{tenant.name}", limit, ("tenants", index, "name"), appended, source)
                for index, tenant in enumerate(tenants)] if has_cold else []

    if cloud == "eks":
        base = f"{name}-eks"
        names.append(DerivedName("EKS cluster name", base, EKS_CLUSTER_NAME, at_name, source="EKS: 1-100 characters"))
        names += [DerivedName(f"IAM role {suffix}", f"{base}-{suffix}", IAM_ROLE_NAME, at_name, AUTONAME_SUFFIX,
                              "IAM role names: up to 64 characters") for suffix in ("cluster-role", "ebs-csi-role")]
        # A node group is named `<base>-<pool>-` + 26 generated digits (node_group_name_prefix), or `<base>-<pool>`
        # when the pool is in fixed_node_group_names (a v0.1.0 group kept).
        names += [DerivedName("EKS node group name", f"{base}-{pool.name}" + ("" if fixed else "-"),
                              EKS_NODE_GROUP_NAME, ("cluster", cloud, "node_pools", index, "name"),
                              0 if fixed else NAME_PREFIX_SUFFIX, "EKS node group names: up to 63 characters")
                  for index, pool in enumerate(cluster.node_pools)
                  for fixed in [pool.name in cluster.fixed_node_group_names]]
        if has_cold:
            names.append(DerivedName("S3 bucket_prefix", f"{cold}-", S3_BUCKET_PREFIX, at_name,
                                     source="S3 bucket_prefix: up to 37 characters"))
        names += per_tenant("IAM role of the tenant's cold-tier access", IAM_ROLE_NAME,
                            "IAM role names: up to 64 characters", AUTONAME_SUFFIX)
    elif cloud == "ack":
        base = f"{name}-ack"
        names.append(DerivedName("ACK cluster name", base, ACK_NAME, at_name, source="ACK: 1-63 characters"))
        names += pools(base, ACK_NAME, "ACK node pool name", "ACK node pool names: 1-63 characters")
        names += [DerivedName("vSwitch name", f"{base}-{zone}", ALI_VSWITCH_NAME, ("cluster", cloud, "zone_ids", index),
                              source="vSwitch names: 1-128 characters") for index, zone in enumerate(cluster.zone_ids)]
        if has_cold:
            names.append(DerivedName("OSS bucket name", f"{cold}-bucket", OSS_BUCKET_NAME, at_name, AUTONAME_SUFFIX,
                                     "OSS bucket names: 3-63 characters"))
        names += per_tenant("RAM user name", RAM_USER_NAME, "RAM user names: 1-64 characters")
        names += per_tenant("RAM policy name", RAM_POLICY_NAME, "RAM policy names: 1-128 characters")
    elif cloud == "tke":
        base = f"{name}-tke"
        names += pools(base, TKE_NODE_POOL_NAME, "TKE node pool name", "TKE node pool names: up to 25 characters")
        if has_cold:
            domain = f"{cold}-{cluster.cold_tier.app_id}.cos.{cluster.region}.myqcloud.com"
            names.append(DerivedName("COS bucket domain", domain, COS_DOMAIN, at_name,
                                     source="COS: '<bucket>-<APPID>.cos.<region>.myqcloud.com' up to 60 characters"))
        names += per_tenant("CAM user name", CAM_USER_NAME, "CAM user names: up to 64 characters")
    elif cloud == "tanzu":
        base = f"{name}-tanzu"
        names.append(DerivedName("TKG cluster name", base, DNS_LABEL, at_name,
                                 source="Cluster API cluster names are label values: up to 63 characters"))
        names.append(DerivedName("kubeconfig Secret", f"{base}-kubeconfig", DNS_SUBDOMAIN, at_name,
                                 source="Kubernetes object name"))
    return names


def name_errors(name: str, cluster: Any, tenants: Sequence[Any]) -> list[tuple[Loc, str, Any]]:
    """(loc, message, value) of every derived name over its limit."""
    errors: list[tuple[Loc, str, Any]] = []
    for derived in derived_names(name, cluster, tenants):
        message = derived.error()
        if message:
            errors.append((derived.loc, message, derived.value))
    return errors


# ---- volumes -------------------------------------------------------------------------------------------

# Amazon EBS volume types (EC2 CreateVolume / "Amazon EBS volume types", docs.aws.amazon.com/ebs/latest/userguide/
# ebs-volume-types.html). Sizes in GiB. st1/sc1: 125 GiB - 16 TiB, no provisioned IOPS or throughput.
# gp3: 1 GiB - 64 TiB, 3,000-80,000 IOPS (at most 500 per GiB), 125-2,000 MiB/s (at most 0.25 MiB/s per IOPS);
# the SDK references still say 16,000 IOPS / 1,000 MiB/s / 16 TiB, AWS raised gp3 to these limits in 2025.
# io2: 4 GiB - 64 TiB, 100-256,000 IOPS (at most 1,000 per GiB), IOPS required, no throughput setting.
EBS_SIZE_GIB: dict[str, tuple[int, int]] = {"gp3": (1, 65536), "io2": (4, 65536), "st1": (125, 16384), "sc1": (125, 16384)}
EBS_IOPS: dict[str, tuple[int, int, int]] = {"gp3": (3000, 80000, 500), "io2": (100, 256000, 1000)}  # min, max, per GiB
GP3_THROUGHPUT_MIB = (125, 2000)
GP3_THROUGHPUT_PER_IOPS = 0.25
GP3_BASELINE_IOPS = 3000

# Alibaba Cloud disk categories ("Block storage performance" / "ESSDs", alibabacloud.com/help/ecs): GiB.
# ESSD by performance level: PL0 1-65,536 (40 in older regions' docs), PL1 20-65,536, PL2 461-65,536,
# PL3 1,261-65,536; ESSD Entry 10-32,768; ESSD AutoPL 1-65,536; standard SSD and ultra disk 20-32,768.
ALI_ESSD_GIB: dict[str, tuple[int, int]] = {"PL0": (1, 65536), "PL1": (20, 65536), "PL2": (461, 65536), "PL3": (1261, 65536)}
ALI_DISK_GIB: dict[str, tuple[int, int]] = {"cloud_essd_entry": (10, 32768), "cloud_auto": (1, 65536),
                                            "cloud_ssd": (20, 32768), "cloud_efficiency": (20, 32768)}

# Tencent Cloud CBS ("Cloud Disk Types", cloud.tencent.com/document/product/362/2353): GB. Premium 10-32,000;
# the SSD types (SSD, enhanced, general purpose, tremendous) 20-32,000. Not checked against the live API here.
CBS_GIB: dict[str, tuple[int, int]] = {"CLOUD_PREMIUM": (10, 32000), "CLOUD_SSD": (20, 32000), "CLOUD_HSSD": (20, 32000),
                                       "CLOUD_BSSD": (20, 32000), "CLOUD_TSSD": (20, 32000)}


def _range_error(kind: str, gib: int, bounds: tuple[int, int]) -> str | None:
    low, high = bounds
    if gib < low:
        return f"{gib} GiB is below the {low} GiB minimum of {kind} volumes"
    if gib > high:
        return f"{gib} GiB is above the {high} GiB maximum of {kind} volumes"
    return None


def volume_size_error(tier: Any, gib: int) -> str | None:
    """Why a volume of `gib` GiB cannot be made on `tier` (a tier model), or None."""
    kind = type(tier).__name__
    if kind == "EbsTier":
        error = _range_error(tier.volume_type, gib, EBS_SIZE_GIB[tier.volume_type])
        if error is None and tier.iops is not None and tier.volume_type in EBS_IOPS:
            per_gib = EBS_IOPS[tier.volume_type][2]
            if tier.iops > per_gib * gib:
                error = (f"{gib} GiB {tier.volume_type} volumes take at most {per_gib * gib} IOPS ({per_gib} per GiB), "
                         f"the tier asks {tier.iops}")
        return error
    if kind == "AliDiskTier":
        if tier.category == "cloud_essd":
            level = tier.performance_level or "PL1"
            return _range_error(f"cloud_essd {level}", gib, ALI_ESSD_GIB[level])
        return _range_error(tier.category, gib, ALI_DISK_GIB[tier.category])
    if kind == "CbsTier":
        return _range_error(tier.disk_type, gib, CBS_GIB[tier.disk_type])
    return None


# ---- the whole platform --------------------------------------------------------------------------------

_GIB = 2**30


def platform_errors(config: Any) -> list[tuple[Loc, str, Any]]:
    """Everything above for a PlatformConfig: derived names, tenant namespaces, drive sizes on their tiers."""
    cluster, tenants = config.cluster, config.tenants
    errors = name_errors(config.name, cluster, tenants)
    for index, tenant in enumerate(tenants):
        try:
            check_namespace(tenant.namespace_name)
        except ValueError as exc:
            errors.append((("tenants", index, "namespace" if tenant.namespace else "name"), str(exc), tenant.namespace_name))
        for pool_index, pool in enumerate(tenant.pools):
            tier = cluster.tiers.get(pool.tier)
            if tier is None:
                continue
            gib = -(-quantity_value(pool.drive_size) // _GIB)  # volumes are provisioned in whole GiB, rounded up
            problem = volume_size_error(tier, int(gib))
            if problem:
                errors.append((("tenants", index, "pools", pool_index, "drive_size"),
                               f"tenants[{tenant.name}].pools[{pool.name}].drive_size {pool.drive_size}: {problem} "
                               f"(cluster.tiers.{pool.tier})", pool.drive_size))
    return errors
