"""The cold tier: a bucket in the cloud's own object store, and per-tenant credentials to reach it.

Each tenant gets its own prefix (`<tenant>/`) and, where the cloud allows, its own identity scoped to
that prefix: an IRSA role (EKS), a RAM user (ACK) or a CAM user (TKE). On Tanzu and existing clusters
the tier is any S3 endpoint with one shared key pair.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws
import tencentcloud_iac_pulumi as tencentcloud

from rustfs_component.clusters.eks import irsa_trust_policy, partition
from rustfs_component.config import CosColdTier, ExternalS3ColdTier, OssColdTier, S3ColdTier


@dataclass(frozen=True)
class TenantIdentity:
    """Who needs access: the tenant, and the ServiceAccount its pods run as."""

    tenant: str
    namespace: str
    service_account: str


@dataclass(frozen=True)
class ColdTierAccess:
    """What a tenant is handed: where the bucket is and how to authenticate (keys or a pod identity)."""

    endpoint: str
    region: str
    bucket: pulumi.Output[str]
    prefix: str
    storage_class: str
    access_key_id: pulumi.Output[str] | None = None
    secret_access_key: pulumi.Output[str] | None = None
    service_account_annotations: dict[str, pulumi.Output[str]] = field(default_factory=dict)


def _s3_prefix_policy(bucket_arn: str, prefix: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:RestoreObject",
                                       "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
         "Resource": f"{bucket_arn}/{prefix}*"}]})


class ColdTier(pulumi.ComponentResource):
    """The cold bucket and one grant per tenant; `access[tenant]` is what that tenant is handed."""

    access: dict[str, ColdTierAccess]

    def __init__(self, name: str, config: S3ColdTier | OssColdTier | CosColdTier | ExternalS3ColdTier,
                 tenants: Sequence[TenantIdentity], *, region: str = "",
                 cloud_provider: pulumi.ProviderResource | None = None,
                 oidc_provider: aws.iam.OpenIdConnectProvider | None = None,
                 secret_access_key: pulumi.Input[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:tiers:ColdTier", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=cloud_provider)
        if isinstance(config, S3ColdTier):
            if oidc_provider is None:
                raise ValueError("an S3 cold tier needs the EKS cluster's OIDC provider (IRSA)")
            self.access = self._s3(name, config, tenants, region, oidc_provider, child)
        elif isinstance(config, OssColdTier):
            self.access = self._oss(name, config, tenants, region, child)
        elif isinstance(config, CosColdTier):
            self.access = self._cos(name, config, tenants, region, child)
        else:
            if secret_access_key is None:
                raise ValueError("cluster.cold_tier (external S3) needs its secret key: set the secret config "
                                 "'coldTierSecretAccessKey' (pulumi config set --secret coldTierSecretAccessKey ...)")
            secret = pulumi.Output.secret(secret_access_key)
            self.access = {t.tenant: ColdTierAccess(
                endpoint=config.endpoint, region=config.region, bucket=pulumi.Output.from_input(config.bucket),
                prefix=f"{t.tenant}/", storage_class=config.storage_class,
                access_key_id=pulumi.Output.from_input(config.access_key_id), secret_access_key=secret)
                for t in tenants}
        self.register_outputs({"buckets": {t: a.bucket for t, a in self.access.items()}})

    def _s3(self, name: str, config: S3ColdTier, tenants: Sequence[TenantIdentity], region: str,
            oidc: aws.iam.OpenIdConnectProvider, child: pulumi.ResourceOptions) -> dict[str, ColdTierAccess]:
        bucket = aws.s3.Bucket(f"{name}-bucket", bucket_prefix=f"{name}-", force_destroy=config.force_destroy, opts=child)
        aws.s3.BucketPublicAccessBlock(f"{name}-bucket", bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True,
                                       restrict_public_buckets=True, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=child)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket", bucket=bucket.id,
            rules=[{"id": "cold", "status": "Enabled", "filter": {"prefix": ""},
                    "transitions": [{"days": 0, "storage_class": config.storage_class}],
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}],
            opts=child)
        issuer = oidc.url
        access: dict[str, ColdTierAccess] = {}
        for t in tenants:
            subject = f"system:serviceaccount:{t.namespace}:{t.service_account}"
            role = aws.iam.Role(
                f"{name}-{t.tenant}",
                assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(
                    lambda a, s=subject: irsa_trust_policy(a[0], a[1], [s])),
                opts=child)
            aws.iam.RolePolicy(f"{name}-{t.tenant}", role=role.id,
                               policy=bucket.arn.apply(lambda arn, p=f"{t.tenant}/": _s3_prefix_policy(arn, p)),
                               opts=child)
            access[t.tenant] = ColdTierAccess(
                endpoint=f"https://s3.{region}.amazonaws.com" + (".cn" if partition(region) == "aws-cn" else ""),
                region=region, bucket=bucket.bucket, prefix=f"{t.tenant}/", storage_class=config.storage_class,
                service_account_annotations={"eks.amazonaws.com/role-arn": role.arn})
        return access

    def _oss(self, name: str, config: OssColdTier, tenants: Sequence[TenantIdentity], region: str,
             child: pulumi.ResourceOptions) -> dict[str, ColdTierAccess]:
        bucket = alicloud.oss.Bucket(
            f"{name}-bucket", storage_class=config.storage_class, force_destroy=config.force_destroy,
            server_side_encryption_rule={"sse_algorithm": "AES256"}, opts=child)
        access: dict[str, ColdTierAccess] = {}
        for t in tenants:
            prefix = f"{t.tenant}/"
            user = alicloud.ram.User(f"{name}-{t.tenant}", name=f"{name}-{t.tenant}",
                                     comments=f"cold tier access of tenant {t.tenant}", opts=child)
            policy = alicloud.ram.Policy(
                f"{name}-{t.tenant}", policy_name=f"{name}-{t.tenant}",
                policy_document=bucket.bucket.apply(lambda b, p=prefix: json.dumps({"Version": "1", "Statement": [
                    {"Effect": "Allow", "Action": ["oss:ListObjects"], "Resource": [f"acs:oss:*:*:{b}"],
                     "Condition": {"StringLike": {"oss:Prefix": [f"{p}*"]}}},
                    {"Effect": "Allow", "Action": ["oss:GetObject", "oss:PutObject", "oss:DeleteObject",
                                                   "oss:RestoreObject", "oss:AbortMultipartUpload"],
                     "Resource": [f"acs:oss:*:*:{b}/{p}*"]}]})),
                opts=child)
            alicloud.ram.UserPolicyAttachment(f"{name}-{t.tenant}", user_name=user.name, policy_name=policy.policy_name,
                                              policy_type="Custom", opts=child)
            key = alicloud.ram.AccessKey(f"{name}-{t.tenant}", user_name=user.name, opts=child)
            access[t.tenant] = ColdTierAccess(
                endpoint=f"https://oss-{region}.aliyuncs.com", region=region, bucket=bucket.bucket, prefix=prefix,
                storage_class=config.storage_class, access_key_id=key.id,
                secret_access_key=pulumi.Output.secret(key.secret))
        return access

    def _cos(self, name: str, config: CosColdTier, tenants: Sequence[TenantIdentity], region: str,
             child: pulumi.ResourceOptions) -> dict[str, ColdTierAccess]:
        bucket_name = f"{name}-{config.app_id}"
        bucket = tencentcloud.cos.Bucket(
            f"{name}-bucket", bucket=bucket_name, acl="private", encryption_algorithm="AES256",
            force_clean=config.force_destroy,
            lifecycle_rules=[{"id": "cold", "filter_prefix": "",
                              "transitions": [{"days": 0, "storage_class": config.storage_class}]}],
            opts=child)
        access: dict[str, ColdTierAccess] = {}
        for t in tenants:
            prefix = f"{t.tenant}/"
            resource = f"qcs::cos:{region}:uid/{config.app_id}:{bucket_name}/{prefix}*"
            user = tencentcloud.cam.User(f"{name}-{t.tenant}", name=f"{name}-{t.tenant}", use_api=True,
                                         console_login=False, force_delete=True,
                                         remark=f"cold tier access of tenant {t.tenant}", opts=child)
            policy = tencentcloud.cam.Policy(f"{name}-{t.tenant}", name=f"{name}-{t.tenant}", document=json.dumps({
                "version": "2.0", "statement": [{"effect": "allow", "action": ["name/cos:*"], "resource": [resource]}]}),
                opts=child)
            tencentcloud.cam.UserPolicyAttachment(f"{name}-{t.tenant}", user_name=user.name, policy_id=policy.id,
                                                  opts=child)
            access[t.tenant] = ColdTierAccess(
                endpoint=f"https://cos.{region}.myqcloud.com", region=region, bucket=bucket.bucket, prefix=prefix,
                storage_class=config.storage_class, access_key_id=user.secret_id,
                secret_access_key=pulumi.Output.secret(user.secret_key))
        return access
