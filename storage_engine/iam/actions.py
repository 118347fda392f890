"""Which IAM action(s) a request needs, and the ARN of the resource it acts on.

Action names are AWS's (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html):
HeadObject needs ``s3:GetObject``, ListObjects(V2) and HeadBucket ``s3:ListBucket``, ListObjectVersions
``s3:ListBucketVersions``, every multipart write ``s3:PutObject``, the Delete* of a bucket configuration the
matching ``Put`` action (DeleteBucketCors -> ``s3:PutBucketCORS``), and a request on one version
(``?versionId=``) the ``...Version...`` action (``s3:GetObjectVersion``, ``s3:DeleteObjectVersion``, ...).
The engine's own admin endpoints need ``admin:Heal`` / ``admin:KmsRewrap``; health probes and CORS preflights
need nothing (they are answered before any authorization).

Requests that touch two resources are authorized twice: CopyObject and UploadPartCopy also need
``COPY_SOURCE_ACTION`` (``s3:GetObject``, or ``s3:GetObjectVersion`` for a versioned source) on the source's ARN;
DeleteObjects needs ``s3:DeleteObject`` on each key it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from storage_engine.api.router import Endpoint

__all__ = ["BYPASS_GOVERNANCE_ACTION", "COPY_SOURCE_ACTION", "ENDPOINT_ACTIONS", "actions_for", "copy_source_action", "resource_arn"]

E = Endpoint

# Endpoints whose one enum member serves several methods: method -> action.
_BY_METHOD: dict[Endpoint, dict[str, str]] = {
    E.BucketAnalytics: {"GET": "s3:GetAnalyticsConfiguration", "PUT": "s3:PutAnalyticsConfiguration",
                        "DELETE": "s3:PutAnalyticsConfiguration"},
    E.BucketMetrics: {"GET": "s3:GetMetricsConfiguration", "PUT": "s3:PutMetricsConfiguration",
                      "DELETE": "s3:PutMetricsConfiguration"},
    E.BucketInventory: {"GET": "s3:GetInventoryConfiguration", "PUT": "s3:PutInventoryConfiguration",
                        "DELETE": "s3:PutInventoryConfiguration"},
    E.BucketIntelligentTiering: {"GET": "s3:GetIntelligentTieringConfiguration",
                                 "PUT": "s3:PutIntelligentTieringConfiguration",
                                 "DELETE": "s3:PutIntelligentTieringConfiguration"},
}

_ACTIONS: dict[Endpoint, tuple[str, ...]] = {
    # service
    E.ListBuckets: ("s3:ListAllMyBuckets",),
    # buckets
    E.CreateBucket: ("s3:CreateBucket",),
    E.DeleteBucket: ("s3:DeleteBucket",),
    E.HeadBucket: ("s3:ListBucket",),
    E.GetBucketLocation: ("s3:GetBucketLocation",),
    E.GetBucketVersioning: ("s3:GetBucketVersioning",),
    E.PutBucketVersioning: ("s3:PutBucketVersioning",),
    E.ListObjects: ("s3:ListBucket",),
    E.ListObjectsV2: ("s3:ListBucket",),
    E.ListObjectVersions: ("s3:ListBucketVersions",),
    E.ListMultipartUploads: ("s3:ListBucketMultipartUploads",),
    E.DeleteObjects: ("s3:DeleteObject",),
    E.GetBucketAcl: ("s3:GetBucketAcl",),
    E.PutBucketAcl: ("s3:PutBucketAcl",),
    E.GetBucketPolicy: ("s3:GetBucketPolicy",),
    E.PutBucketPolicy: ("s3:PutBucketPolicy",),
    E.DeleteBucketPolicy: ("s3:DeleteBucketPolicy",),
    E.GetBucketPolicyStatus: ("s3:GetBucketPolicyStatus",),
    E.GetBucketCors: ("s3:GetBucketCORS",),
    E.PutBucketCors: ("s3:PutBucketCORS",),
    E.DeleteBucketCors: ("s3:PutBucketCORS",),
    E.GetBucketLifecycleConfiguration: ("s3:GetLifecycleConfiguration",),
    E.PutBucketLifecycleConfiguration: ("s3:PutLifecycleConfiguration",),
    E.DeleteBucketLifecycle: ("s3:PutLifecycleConfiguration",),
    E.GetBucketTagging: ("s3:GetBucketTagging",),
    E.PutBucketTagging: ("s3:PutBucketTagging",),
    E.DeleteBucketTagging: ("s3:PutBucketTagging",),
    E.GetBucketEncryption: ("s3:GetEncryptionConfiguration",),
    E.PutBucketEncryption: ("s3:PutEncryptionConfiguration",),
    E.DeleteBucketEncryption: ("s3:PutEncryptionConfiguration",),
    E.GetBucketWebsite: ("s3:GetBucketWebsite",),
    E.PutBucketWebsite: ("s3:PutBucketWebsite",),
    E.DeleteBucketWebsite: ("s3:DeleteBucketWebsite",),
    E.GetBucketLogging: ("s3:GetBucketLogging",),
    E.PutBucketLogging: ("s3:PutBucketLogging",),
    E.GetBucketNotificationConfiguration: ("s3:GetBucketNotification",),
    E.PutBucketNotificationConfiguration: ("s3:PutBucketNotification",),
    E.GetBucketReplication: ("s3:GetReplicationConfiguration",),
    E.PutBucketReplication: ("s3:PutReplicationConfiguration",),
    E.DeleteBucketReplication: ("s3:PutReplicationConfiguration",),
    E.GetObjectLockConfiguration: ("s3:GetBucketObjectLockConfiguration",),
    E.PutObjectLockConfiguration: ("s3:PutBucketObjectLockConfiguration",),
    E.GetPublicAccessBlock: ("s3:GetBucketPublicAccessBlock",),
    E.PutPublicAccessBlock: ("s3:PutBucketPublicAccessBlock",),
    E.DeletePublicAccessBlock: ("s3:PutBucketPublicAccessBlock",),
    E.GetBucketOwnershipControls: ("s3:GetBucketOwnershipControls",),
    E.PutBucketOwnershipControls: ("s3:PutBucketOwnershipControls",),
    E.DeleteBucketOwnershipControls: ("s3:PutBucketOwnershipControls",),
    E.GetBucketAccelerateConfiguration: ("s3:GetAccelerateConfiguration",),
    E.PutBucketAccelerateConfiguration: ("s3:PutAccelerateConfiguration",),
    E.GetBucketRequestPayment: ("s3:GetBucketRequestPayment",),
    E.PutBucketRequestPayment: ("s3:PutBucketRequestPayment",),
    **{endpoint: tuple(dict.fromkeys(by_method.values())) for endpoint, by_method in _BY_METHOD.items()},
    E.PostObject: ("s3:PutObject",),
    # objects
    E.GetObject: ("s3:GetObject",),
    E.HeadObject: ("s3:GetObject",),
    E.PutObject: ("s3:PutObject",),
    E.CopyObject: ("s3:PutObject",),
    E.DeleteObject: ("s3:DeleteObject",),
    E.GetObjectTagging: ("s3:GetObjectTagging",),
    E.PutObjectTagging: ("s3:PutObjectTagging",),
    E.DeleteObjectTagging: ("s3:DeleteObjectTagging",),
    E.GetObjectAcl: ("s3:GetObjectAcl",),
    E.PutObjectAcl: ("s3:PutObjectAcl",),
    E.GetObjectRetention: ("s3:GetObjectRetention",),
    E.PutObjectRetention: ("s3:PutObjectRetention",),
    E.GetObjectLegalHold: ("s3:GetObjectLegalHold",),
    E.PutObjectLegalHold: ("s3:PutObjectLegalHold",),
    E.GetObjectAttributes: ("s3:GetObject", "s3:GetObjectAttributes"),     # AWS: both (Version pair with ?versionId)
    E.GetObjectTorrent: ("s3:GetObjectTorrent",),
    E.RestoreObject: ("s3:RestoreObject",),
    E.SelectObjectContent: ("s3:GetObject",),
    # multipart
    E.CreateMultipartUpload: ("s3:PutObject",),
    E.UploadPart: ("s3:PutObject",),
    E.UploadPartCopy: ("s3:PutObject",),
    E.CompleteMultipartUpload: ("s3:PutObject",),
    E.AbortMultipartUpload: ("s3:AbortMultipartUpload",),
    E.ListParts: ("s3:ListMultipartUploadParts",),
    # the engine's own
    E.HealthLive: (),
    E.HealthReady: (),
    E.HealthCluster: (),
    E.Metrics: (),
    E.AdminHeal: ("admin:Heal",),
    E.AdminKmsRewrap: ("admin:KmsRewrap",),
    E.AdminIlmRun: ("admin:IlmRun",),
    E.AdminTier: ("admin:ListTier", "admin:SetTier"),
    E.Options: (),
    E.QueryApi: (),             # IAM / STS actions are authorized by their APIs (api/iam.py, api/sts.py)
}

# Every Endpoint -> the action(s) a request to it needs (all methods together for the multi-method ones).
ENDPOINT_ACTIONS: Mapping[Endpoint, tuple[str, ...]] = MappingProxyType(_ACTIONS)

# The action on one version (?versionId=) instead of the current object.
_VERSIONED: dict[str, str] = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
    "s3:GetObjectTorrent": "s3:GetObjectVersionTorrent",
}
# Endpoints where ?versionId names the version acted on (PutObjectRetention/LegalHold keep their own actions).
_VERSION_AWARE = frozenset({E.GetObject, E.HeadObject, E.DeleteObject, E.GetObjectTagging, E.PutObjectTagging,
                            E.DeleteObjectTagging, E.GetObjectAcl, E.PutObjectAcl, E.GetObjectAttributes,
                            E.GetObjectTorrent, E.SelectObjectContent})

COPY_SOURCE_ACTION = "s3:GetObject"
# Object lock: a request with ``x-amz-bypass-governance-retention: true`` bypasses GOVERNANCE retention only when
# its caller is also allowed this on the object (DeleteObject(s), PutObjectRetention; api/object_lock.py).
BYPASS_GOVERNANCE_ACTION = "s3:BypassGovernanceRetention"


def actions_for(endpoint: Endpoint, *, method: str = "GET", version_id: bool = False) -> tuple[str, ...]:
    """The action(s) a request to ``endpoint`` needs (all must be allowed).

    ``method`` picks the action of the endpoints that serve several methods (analytics, metrics, inventory,
    intelligent-tiering configurations); ``version_id`` says the request names a version (``?versionId=``)."""
    by_method = _BY_METHOD.get(endpoint)
    if by_method is not None:
        return (by_method.get(method.upper(), by_method["PUT"]),)
    actions = _ACTIONS[endpoint]
    if version_id and endpoint in _VERSION_AWARE:
        return tuple(_VERSIONED.get(action, action) for action in actions)
    return actions


def copy_source_action(*, version_id: bool = False) -> str:
    """The action CopyObject / UploadPartCopy need on their source (``x-amz-copy-source``, maybe ?versionId)."""
    return _VERSIONED[COPY_SOURCE_ACTION] if version_id else COPY_SOURCE_ACTION


def resource_arn(bucket: str = "", key: str = "") -> str:
    """``arn:aws:s3:::bucket/key``, ``arn:aws:s3:::bucket`` (bucket operations, listings) or ``arn:aws:s3:::*``
    (no bucket: ListBuckets and the admin endpoints)."""
    if not bucket:
        return "arn:aws:s3:::*"
    return f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"
