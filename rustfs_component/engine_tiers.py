"""The engine's tiers and default lifecycle rules, rendered through the engine's contract (docs/tiering.md).

    EngineTiers         a tenant's WARM tier (its pool on warm volumes) and COLD tier (the platform's cold bucket
                        and the tenant's credentials): the `RUSTFS_TIERS` value, and the cold-tier Secret's mount
    lifecycle_defaults  `tenants[].lifecycle` as {bucket: LifecycleConfiguration XML} (`RUSTFS_LIFECYCLE_DEFAULTS`)

Nothing here spells an engine setting: `RUSTFS_TIERS` is `render_env(tiers=[...])`, validated by the engine's own
`PoolTierSpec` / `S3TierSpec`. Keys are never in the pod spec: where the cloud hands keys (ACK RAM user, TKE CAM
user, an external S3 endpoint) the engine reads them from the tenant's cold-tier Secret, mounted read-only; on EKS
it exchanges the IRSA token (projected by EKS's pod identity webhook) with STS for the tenant's role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import pulumi
from pulumi_kubernetes.core.v1 import VolumeArgsDict, VolumeMountArgsDict
from storage_engine.config import WebIdentity, env_name, render_env

from rustfs_component.clouds.base import ColdTierAccess
from rustfs_component.config import LifecycleDefault, LifecycleRule

WARM_TIER = "WARM"
COLD_TIER = "COLD"
COLD_TIER_VOLUME = "cold-tier"
COLD_TIER_MOUNT = "/etc/rustfs/cold-tier"
# Keys of the tenant's cold-tier Secret (tenant.py) holding the key pair, where the cloud hands keys.
ACCESS_KEY_ID_ITEM = "accessKeyId"
SECRET_ACCESS_KEY_ITEM = "secretAccessKey"
IRSA_TOKEN_FILE: str = WebIdentity.model_fields["token_file"].default  # where EKS's webhook projects the token
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class EngineTiers:
    """A tenant's tiers as its engines declare them. `warm_drives`: the ellipsis expression of the pool on warm
    volumes (rendered with the write pools, `engine.topology_expressions`); `cold`: the cold tier's access, with
    `cold_secret` the tenant's Secret holding its keys (None for a pod identity: IRSA)."""

    warm_drives: str | None = None
    cold: ColdTierAccess | None = None
    cold_secret: str | None = None

    def __post_init__(self) -> None:
        if self.cold is not None and (self.cold.role_arn is None) == (self.cold_secret is None):
            raise ValueError("a cold tier needs exactly one credential source: the keys' Secret or a role (IRSA)")
        # Validate now, with stand-ins for the Outputs, so a bad tier fails at preview rather than in the pods.
        self._render("stand-in-bucket", "arn:aws:iam::000000000000:role/stand-in")

    @property
    def empty(self) -> bool:
        return self.warm_drives is None and self.cold is None

    def specs(self, bucket: str, role_arn: str | None) -> list[dict[str, Any]]:
        """The `tiers` setting: [PoolTierSpec, S3TierSpec] as the engine's contract spells them."""
        specs: list[dict[str, Any]] = []
        if self.warm_drives is not None:
            specs.append({"type": "pool", "name": WARM_TIER, "drives": self.warm_drives})
        cold = self.cold
        if cold is not None:
            spec: dict[str, Any] = {"type": "s3", "name": COLD_TIER, "endpoint": cold.endpoint,
                                    "addressing": cold.addressing, "bucket": bucket, "prefix": cold.prefix,
                                    "region": cold.region, "storage_class": cold.storage_class}
            if self.cold_secret is not None:
                spec["access_key_file"] = f"{COLD_TIER_MOUNT}/{ACCESS_KEY_ID_ITEM}"
                spec["secret_key_file"] = f"{COLD_TIER_MOUNT}/{SECRET_ACCESS_KEY_ITEM}"
            else:
                spec["web_identity"] = {"role_arn": role_arn, "token_file": IRSA_TOKEN_FILE,
                                        "sts_endpoint": cold.sts_endpoint}
            specs.append(spec)
        return specs

    def _render(self, bucket: str, role_arn: str | None) -> str:
        return render_env(tiers=self.specs(bucket, role_arn))[env_name("tiers")]

    def env_value(self) -> pulumi.Output[str]:
        """The `RUSTFS_TIERS` value: JSON through `render_env`, once the bucket name (and role ARN) are known."""
        cold = self.cold
        if cold is None:
            return pulumi.Output.from_input(self._render("", None))
        # Outputs a test's stock mocks (outputs = inputs) leave out are None: tolerated, rendered as "unknown".
        if cold.role_arn is None:
            return cold.bucket.apply(lambda bucket: self._render(bucket or UNKNOWN, None))
        return pulumi.Output.all(cold.bucket, cold.role_arn).apply(
            lambda a: self._render(a[0] or UNKNOWN, a[1] or UNKNOWN))

    def volumes(self) -> list[VolumeArgsDict]:
        if self.cold_secret is None:
            return []
        return [{"name": COLD_TIER_VOLUME, "secret": {
            "secret_name": self.cold_secret, "default_mode": 0o440,  # group-readable: fsGroup is the engine's
            "items": [{"key": key, "path": key} for key in (ACCESS_KEY_ID_ITEM, SECRET_ACCESS_KEY_ITEM)]}}]

    def mounts(self) -> list[VolumeMountArgsDict]:
        if self.cold_secret is None:
            return []
        return [{"name": COLD_TIER_VOLUME, "mount_path": COLD_TIER_MOUNT, "read_only": True}]


def lifecycle_document(rules: Sequence[LifecycleRule]) -> str:
    """A LifecycleConfiguration (AWS's element names) as PutBucketLifecycleConfiguration takes it."""
    root = ElementTree.Element("LifecycleConfiguration", xmlns=S3_NAMESPACE)

    def child(parent: ElementTree.Element, tag: str, text: str | int | None = None) -> ElementTree.Element:
        node = ElementTree.SubElement(parent, tag)
        if text is not None:
            node.text = str(text)
        return node

    for rule in rules:
        node = child(root, "Rule")
        child(node, "ID", rule.id)
        child(child(node, "Filter"), "Prefix", rule.prefix)
        child(node, "Status", "Enabled")
        for transition in rule.transitions:
            t = child(node, "Transition")
            child(t, "Days", transition.days)
            child(t, "StorageClass", transition.tier)
        if rule.expiration_days is not None:
            child(child(node, "Expiration"), "Days", rule.expiration_days)
        if rule.noncurrent_expiration_days is not None:
            child(child(node, "NoncurrentVersionExpiration"), "NoncurrentDays", rule.noncurrent_expiration_days)
        if rule.abort_incomplete_multipart_days is not None:
            child(child(node, "AbortIncompleteMultipartUpload"), "DaysAfterInitiation",
                  rule.abort_incomplete_multipart_days)
    return ElementTree.tostring(root, encoding="unicode")


def lifecycle_defaults(entries: Sequence[LifecycleDefault]) -> dict[str, str]:
    """The `lifecycle_defaults` setting: {bucket or '*': LifecycleConfiguration XML}."""
    return {entry.bucket: lifecycle_document(entry.rules) for entry in entries}
