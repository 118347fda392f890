"""The cold tier of clouds without an object store of the component's own (Tanzu, existing clusters):
any S3 endpoint, with one shared key pair handed to every tenant under its own prefix."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from rustfs_component.clouds.base import ColdTierAccess, TenantIdentity
from rustfs_component.config import ExternalS3ColdTier


def external_s3_cold_tier(config: ExternalS3ColdTier, tenants: Sequence[TenantIdentity],
                          secret_access_key: pulumi.Input[str] | None) -> dict[str, ColdTierAccess]:
    """Creates nothing: each tenant is handed the endpoint, the bucket, its prefix and the key pair (secret)."""
    if secret_access_key is None:
        raise ValueError("cluster.cold_tier (external S3) needs its secret key: set the secret config "
                         "'coldTierSecretAccessKey' (pulumi config set --secret coldTierSecretAccessKey ...)")
    secret = pulumi.Output.secret(secret_access_key)
    return {t.tenant: ColdTierAccess(
        endpoint=config.endpoint, region=config.region, bucket=pulumi.Output.from_input(config.bucket),
        prefix=f"{t.tenant}/", storage_class=config.storage_class, addressing=config.addressing,
        access_key_id=pulumi.Output.from_input(config.access_key_id), secret_access_key=secret,
        egress_cidrs=config.egress_cidrs)
        for t in tenants}
