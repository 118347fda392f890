"""Storage tier settings per cloud: the hot/warm StorageClasses and the cold object-store bucket.

Each cloud keeps its own vocabulary (EBS volume types, ACK disk categories, CBS disk types, vSphere
storage policies) instead of one lowest-common-denominator shape: the semantics differ, so the names do.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from rustfs_component.config.base import DnsLabel, StrictModel
from rustfs_component.config.network import Cidr
from rustfs_component.config.limits import (EBS_IOPS, GP3_BASELINE_IOPS, GP3_THROUGHPUT_MIB, GP3_THROUGHPUT_PER_IOPS,
                                            Loc, check_dns_subdomain, check_s3_bucket_name, raise_at)


class EbsTier(StrictModel):
    """An EBS-backed StorageClass (driver `ebs.csi.aws.com`)."""

    volume_type: Literal["gp3", "io2", "st1", "sc1"] = Field(
        description="EBS volume type: gp3/io2 (SSD) for hot, st1/sc1 (HDD) for warm. No default; required.")
    iops: int | None = Field(
        default=None, ge=100, le=256000,
        description="Provisioned IOPS per volume (gp3, io2 only). Default: the volume type's baseline.")
    throughput_mib: int | None = Field(
        default=None, ge=125, le=2000,
        description="Provisioned throughput in MiB/s (gp3 only: 125-2000, at most 0.25 per IOPS). "
                    "Default: gp3's baseline, 125.")

    @model_validator(mode="after")
    def _options_of_the_type(self) -> "EbsTier":
        # Limits and sources: rustfs_component.config.limits (EBS_IOPS, GP3_THROUGHPUT_MIB).
        errors: list[tuple[Loc, str, Any]] = []
        kind = self.volume_type
        if self.iops is not None and kind not in EBS_IOPS:
            errors.append((("iops",), f"{kind} volumes take no provisioned IOPS (gp3 and io2 only)", self.iops))
        elif self.iops is not None:
            low, high, _ = EBS_IOPS[kind]
            if not low <= self.iops <= high:
                errors.append((("iops",), f"{kind} volumes take {low}-{high} IOPS", self.iops))
        elif kind == "io2":
            errors.append((("iops",), "io2 volumes need provisioned IOPS (100-256000)", self.iops))
        if self.throughput_mib is not None and kind != "gp3":
            errors.append((("throughput_mib",), f"{kind} volumes take no provisioned throughput (gp3 only)",
                           self.throughput_mib))
        elif self.throughput_mib is not None:
            low, high = GP3_THROUGHPUT_MIB
            ceiling = int((self.iops or GP3_BASELINE_IOPS) * GP3_THROUGHPUT_PER_IOPS)
            if not low <= self.throughput_mib <= min(high, ceiling):
                errors.append((("throughput_mib",), f"gp3 takes {low}-{high} MiB/s and at most "
                               f"{GP3_THROUGHPUT_PER_IOPS} MiB/s per IOPS ({ceiling} at {self.iops or GP3_BASELINE_IOPS} "
                               f"IOPS)", self.throughput_mib))
        raise_at("EbsTier", errors)
        return self


class AliDiskTier(StrictModel):
    """An ACK cloud-disk StorageClass (driver `diskplugin.csi.alibabacloud.com`)."""

    category: Literal["cloud_essd", "cloud_essd_entry", "cloud_auto", "cloud_ssd", "cloud_efficiency"] = Field(
        description="Disk category: cloud_essd for hot, cloud_efficiency (ultra disk) for warm. Required.")
    performance_level: Literal["PL0", "PL1", "PL2", "PL3"] | None = Field(
        default=None, description="ESSD performance level (cloud_essd only). Default: ACK's default, PL1.")

    @model_validator(mode="after")
    def _level_of_essd_only(self) -> "AliDiskTier":
        if self.performance_level is not None and self.category != "cloud_essd":
            raise_at("AliDiskTier", [(("performance_level",), f"performance levels are for cloud_essd, not "
                                      f"{self.category}", self.performance_level)])
        return self


class CbsTier(StrictModel):
    """A TKE CBS StorageClass (driver `com.tencent.cloud.csi.cbs`)."""

    disk_type: Literal["CLOUD_HSSD", "CLOUD_SSD", "CLOUD_BSSD", "CLOUD_TSSD", "CLOUD_PREMIUM"] = Field(
        description="CBS disk type: CLOUD_HSSD/CLOUD_SSD for hot, CLOUD_PREMIUM for warm. Required.")


class VsphereTier(StrictModel):
    """A vSphere-backed StorageClass inside a TKG cluster (paravirtual CSI `csi.vsphere.vmware.com`)."""

    storage_policy: DnsLabel = Field(
        description="The Supervisor storage class (a vSphere storage policy assigned to the vSphere "
                    "Namespace), e.g. 'vsan-nvme' for hot. Required.")


class GenericTier(StrictModel):
    """A tier on an existing cluster: either a StorageClass this component creates, or one that exists.

    Exactly one of `provisioner` and `existing_storage_class` is set.
    """

    provisioner: str | None = Field(
        default=None,
        description="CSI driver of the StorageClass to create, e.g. 'ebs.csi.aws.com'. Default none; "
                    "excludes `existing_storage_class`.")
    parameters: dict[str, str] = Field(
        default_factory=dict, description="StorageClass parameters for `provisioner`. Default: none.")
    existing_storage_class: Annotated[str, AfterValidator(check_dns_subdomain)] | None = Field(
        default=None,
        description="Use this StorageClass as is; the component never creates or changes it (it is "
                    "shared). Default none; excludes `provisioner`.")

    def model_post_init(self, _context: object) -> None:
        if (self.provisioner is None) == (self.existing_storage_class is None):
            raise ValueError("set exactly one of 'provisioner' and 'existing_storage_class'")


# ---- cold tier -----------------------------------------------------------------------------------------
#
# The engines read a transitioned object in place: a GET of it is a ranged GET on the cold bucket, at once. So
# the class they write cold objects in must serve reads without a restore. Archive classes (S3 GLACIER and
# DEEP_ARCHIVE, OSS Archive without real-time access and ColdArchive, COS ARCHIVE and DEEP_ARCHIVE) answer 403
# InvalidObjectState until an object is restored: every read of a cold object would fail.

S3_ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
"""S3's classes whose objects need a RestoreObject before a GET (x-amz-storage-class spelling)."""
EXTERNAL_ARCHIVE_CLASSES = S3_ARCHIVE_CLASSES | {"ARCHIVE"}
"""The same for any S3 endpoint: AWS's names and COS's `ARCHIVE`."""
NO_RESTORE = ("the engines read cold objects in place, at once, and objects of an archive class can only be read "
              "after a restore")


def _refuse_archive(value: Any, archive: frozenset[str], instead: str) -> Any:
    if isinstance(value, str) and value in archive:
        raise ValueError(f"{value} is an archive class: {NO_RESTORE}. Use {instead}")
    return value


class S3ColdTier(StrictModel):
    """An S3 bucket; tenants reach it through an IRSA role each, scoped to their prefix."""

    storage_class: Literal["GLACIER_IR", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING"] = Field(
        default="GLACIER_IR",
        description="S3 storage class the engines write the cold tier's objects with (the bucket's own lifecycle "
                    "never moves or expires them). Every one of these is read without a restore, as the engines "
                    "need: GLACIER and DEEP_ARCHIVE are refused. INTELLIGENT_TIERING stays instant (the component "
                    "enables none of its archive tiers). Default 'GLACIER_IR' (Glacier Instant Retrieval).")
    force_destroy: bool = Field(
        default=False, description="Let `pulumi destroy` delete a non-empty bucket. Default false.")

    @field_validator("storage_class", mode="before")
    @classmethod
    def _readable_without_restore(cls, value: Any) -> Any:
        return _refuse_archive(value, S3_ARCHIVE_CLASSES, "GLACIER_IR, STANDARD_IA or ONEZONE_IA")


class OssColdTier(StrictModel):
    """An OSS bucket in the Archive class with real-time access of Archive objects; tenants get a RAM user each,
    scoped to their prefix."""

    storage_class: Literal["Archive"] = Field(
        default="Archive",
        description="The bucket's storage class, which the engines write in too (S3's spelling `GLACIER`). The "
                    "component enables the bucket's real-time access of Archive objects (BucketArchiveDirectRead), "
                    "so reads need no restore; OSS bills the data read. 'ColdArchive' is refused: it has no "
                    "real-time access. Fixed when the bucket is created. Default 'Archive'.")
    force_destroy: bool = Field(
        default=False, description="Let `pulumi destroy` delete a non-empty bucket. Default false.")

    @field_validator("storage_class", mode="before")
    @classmethod
    def _readable_without_restore(cls, value: Any) -> Any:
        if value == "ColdArchive":
            raise ValueError(f"ColdArchive has no real-time access: {NO_RESTORE}. Use 'Archive' (the bucket's "
                             f"real-time access of Archive objects is enabled)")
        return value


class CosColdTier(StrictModel):
    """A COS bucket; tenants get a CAM user each, scoped to their prefix."""

    app_id: str = Field(
        pattern=r"^[0-9]+$",
        description="The account's APPID; COS bucket names end in '-<APPID>'. Required.")
    storage_class: Literal["STANDARD_IA", "ARCHIVE", "DEEP_ARCHIVE"] = Field(
        default="STANDARD_IA",
        description="COS storage class the engines write the cold tier's objects with: 'STANDARD_IA', read "
                    "without a restore. 'ARCHIVE' and 'DEEP_ARCHIVE' (v0.1.0's choices) need a restore before "
                    "every read: they are still accepted, so that v0.1.0 stacks render, but the engines write "
                    "STANDARD_IA and each preview warns; they will be refused in the next major version. The "
                    "bucket itself has no class. Default 'STANDARD_IA'.")
    force_destroy: bool = Field(
        default=False, description="Let `pulumi destroy` empty and delete the bucket. Default false.")


class ExternalS3ColdTier(StrictModel):
    """Any S3-compatible endpoint, with one key pair shared by all tenants (each gets its own prefix).

    The secret key is not part of this model: pass it as the Pulumi secret config value
    `coldTierSecretAccessKey` (or the component's `cold_tier_secret_access_key` argument).
    """

    endpoint: str = Field(pattern=r"^https?://", description="Endpoint URL, e.g. 'https://s3.example.com'. Required.")
    bucket: Annotated[str, AfterValidator(check_s3_bucket_name)] = Field(
        description="Existing bucket name (S3 naming rules: 3-63 lowercase letters, digits, '.', '-'). Required.")
    region: str = Field(default="us-east-1", description="Region to sign for. Default 'us-east-1'.")
    storage_class: str = Field(
        default="GLACIER_IR", pattern=r"^[A-Z][A-Z0-9_]{0,63}$",
        description="Storage class to write with, as S3 spells it (x-amz-storage-class); one read without a "
                    "restore: GLACIER, DEEP_ARCHIVE and ARCHIVE are refused. Default 'GLACIER_IR'.")
    addressing: Literal["path", "virtual"] = Field(
        default="path",
        description="How the engines address the bucket: 'path' (<endpoint>/<bucket>/<key>: MinIO, Ceph RGW, "
                    "SeaweedFS) or 'virtual' (<bucket>.<endpoint host>/<key>: OSS, COS). Default 'path'.")
    access_key_id: str = Field(min_length=1, description="Access key id of the shared key pair. Required.")
    egress_cidrs: list[Cidr] | None = Field(
        default=None, min_length=1,
        description="Addresses of the endpoint: the only destinations (on its port and 443) tenant pods may send to "
                    "for the cold tier. Default: anywhere (0.0.0.0/0), since a hostname's addresses are unknown.")

    @field_validator("storage_class", mode="before")
    @classmethod
    def _readable_without_restore(cls, value: Any) -> Any:
        return _refuse_archive(value, EXTERNAL_ARCHIVE_CLASSES, "an instant class, e.g. STANDARD_IA or GLACIER_IR")
