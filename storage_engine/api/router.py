"""Request routing: method + host + path + query -> an :class:`Endpoint` with its bucket and key.

Routing is pure parsing: it never touches storage and never authenticates. Every S3 operation has an
``Endpoint``, including the ones this server does not implement (the app answers those with
``NotImplemented`` after authentication, so unauthenticated callers learn nothing).

Addressing styles:

- path style: ``/bucket/key``;
- virtual-hosted style: ``Host: bucket.<domain>[:port]`` for one of ``settings.domains``, path ``/key``.

Bucket and key are percent-decoded from the raw path (``+`` stays a plus; invalid UTF-8 -> InvalidURI).
The names are validated later (``api/names.py``), after authentication.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from storage_engine.errors import InvalidURI, MethodNotAllowed
from storage_engine.http.types import Request

# Paths served by the engine itself rather than by a bucket (the bucket name "rustfs" is reserved).
RESERVED_BUCKET = "rustfs"
HEALTH_LIVE = "/rustfs/health/live"
HEALTH_READY = "/rustfs/health/ready"
HEALTH_CLUSTER = "/rustfs/health/cluster"
METRICS = "/rustfs/metrics"
ADMIN_PREFIX = "/rustfs/admin/v3/"


class Endpoint(enum.Enum):
    """S3 operations (by their AWS API names) and the engine's own endpoints."""

    # service
    ListBuckets = "ListBuckets"
    # buckets
    CreateBucket = "CreateBucket"
    DeleteBucket = "DeleteBucket"
    HeadBucket = "HeadBucket"
    GetBucketLocation = "GetBucketLocation"
    GetBucketVersioning = "GetBucketVersioning"
    PutBucketVersioning = "PutBucketVersioning"
    ListObjects = "ListObjects"
    ListObjectsV2 = "ListObjectsV2"
    ListObjectVersions = "ListObjectVersions"
    ListMultipartUploads = "ListMultipartUploads"
    DeleteObjects = "DeleteObjects"
    GetBucketAcl = "GetBucketAcl"
    PutBucketAcl = "PutBucketAcl"
    GetBucketPolicy = "GetBucketPolicy"
    PutBucketPolicy = "PutBucketPolicy"
    DeleteBucketPolicy = "DeleteBucketPolicy"
    GetBucketPolicyStatus = "GetBucketPolicyStatus"
    GetBucketCors = "GetBucketCors"
    PutBucketCors = "PutBucketCors"
    DeleteBucketCors = "DeleteBucketCors"
    GetBucketLifecycleConfiguration = "GetBucketLifecycleConfiguration"
    PutBucketLifecycleConfiguration = "PutBucketLifecycleConfiguration"
    DeleteBucketLifecycle = "DeleteBucketLifecycle"
    GetBucketTagging = "GetBucketTagging"
    PutBucketTagging = "PutBucketTagging"
    DeleteBucketTagging = "DeleteBucketTagging"
    GetBucketEncryption = "GetBucketEncryption"
    PutBucketEncryption = "PutBucketEncryption"
    DeleteBucketEncryption = "DeleteBucketEncryption"
    GetBucketWebsite = "GetBucketWebsite"
    PutBucketWebsite = "PutBucketWebsite"
    DeleteBucketWebsite = "DeleteBucketWebsite"
    GetBucketLogging = "GetBucketLogging"
    PutBucketLogging = "PutBucketLogging"
    GetBucketNotificationConfiguration = "GetBucketNotificationConfiguration"
    PutBucketNotificationConfiguration = "PutBucketNotificationConfiguration"
    GetBucketReplication = "GetBucketReplication"
    PutBucketReplication = "PutBucketReplication"
    DeleteBucketReplication = "DeleteBucketReplication"
    GetObjectLockConfiguration = "GetObjectLockConfiguration"
    PutObjectLockConfiguration = "PutObjectLockConfiguration"
    GetPublicAccessBlock = "GetPublicAccessBlock"
    PutPublicAccessBlock = "PutPublicAccessBlock"
    DeletePublicAccessBlock = "DeletePublicAccessBlock"
    GetBucketOwnershipControls = "GetBucketOwnershipControls"
    PutBucketOwnershipControls = "PutBucketOwnershipControls"
    DeleteBucketOwnershipControls = "DeleteBucketOwnershipControls"
    GetBucketAccelerateConfiguration = "GetBucketAccelerateConfiguration"
    PutBucketAccelerateConfiguration = "PutBucketAccelerateConfiguration"
    GetBucketRequestPayment = "GetBucketRequestPayment"
    PutBucketRequestPayment = "PutBucketRequestPayment"
    BucketAnalytics = "BucketAnalyticsConfiguration"
    BucketMetrics = "BucketMetricsConfiguration"
    BucketInventory = "BucketInventoryConfiguration"
    BucketIntelligentTiering = "BucketIntelligentTieringConfiguration"
    PostObject = "PostObject"
    # objects
    GetObject = "GetObject"
    HeadObject = "HeadObject"
    PutObject = "PutObject"
    CopyObject = "CopyObject"
    DeleteObject = "DeleteObject"
    GetObjectTagging = "GetObjectTagging"
    PutObjectTagging = "PutObjectTagging"
    DeleteObjectTagging = "DeleteObjectTagging"
    GetObjectAcl = "GetObjectAcl"
    PutObjectAcl = "PutObjectAcl"
    GetObjectRetention = "GetObjectRetention"
    PutObjectRetention = "PutObjectRetention"
    GetObjectLegalHold = "GetObjectLegalHold"
    PutObjectLegalHold = "PutObjectLegalHold"
    GetObjectAttributes = "GetObjectAttributes"
    GetObjectTorrent = "GetObjectTorrent"
    RestoreObject = "RestoreObject"
    SelectObjectContent = "SelectObjectContent"
    # multipart
    CreateMultipartUpload = "CreateMultipartUpload"
    UploadPart = "UploadPart"
    UploadPartCopy = "UploadPartCopy"
    CompleteMultipartUpload = "CompleteMultipartUpload"
    AbortMultipartUpload = "AbortMultipartUpload"
    ListParts = "ListParts"
    # the engine's own
    HealthLive = "HealthLive"
    HealthReady = "HealthReady"
    HealthCluster = "HealthCluster"         # every erasure set has its write quorum (api/health.py)
    Metrics = "Metrics"                     # Prometheus; its own bearer token (metrics/endpoint.py)
    AdminHeal = "AdminHeal"
    AdminKmsRewrap = "AdminKmsRewrap"
    AdminIlmRun = "AdminIlmRun"
    AdminTier = "AdminTier"                 # tiers: GET list, PUT add, DELETE .../<name>, POST .../<name>/verify
    Options = "Options"                     # CORS preflight
    QueryApi = "QueryApi"                   # IAM / STS over the query protocol: a form POST / (api/query.py)


# Endpoints answered without S3 authentication (probes; the metrics check their own bearer token).
UNAUTHENTICATED = frozenset({Endpoint.HealthLive, Endpoint.HealthReady, Endpoint.HealthCluster, Endpoint.Metrics})


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: Endpoint
    bucket: str = ""
    key: str = ""
    virtual_host: bool = False


# Bucket sub-resources in the order they are checked; each maps method -> endpoint.
# A subresource missing for a method falls through to the plain bucket operation.
_BUCKET_SUBRESOURCES: tuple[tuple[str, dict[str, Endpoint]], ...] = (
    ("location", {"GET": Endpoint.GetBucketLocation}),
    ("versioning", {"GET": Endpoint.GetBucketVersioning, "PUT": Endpoint.PutBucketVersioning}),
    ("uploads", {"GET": Endpoint.ListMultipartUploads}),
    ("versions", {"GET": Endpoint.ListObjectVersions}),
    ("delete", {"POST": Endpoint.DeleteObjects}),
    ("acl", {"GET": Endpoint.GetBucketAcl, "PUT": Endpoint.PutBucketAcl}),
    ("policyStatus", {"GET": Endpoint.GetBucketPolicyStatus}),
    ("policy", {"GET": Endpoint.GetBucketPolicy, "PUT": Endpoint.PutBucketPolicy,
                "DELETE": Endpoint.DeleteBucketPolicy}),
    ("cors", {"GET": Endpoint.GetBucketCors, "PUT": Endpoint.PutBucketCors, "DELETE": Endpoint.DeleteBucketCors}),
    ("lifecycle", {"GET": Endpoint.GetBucketLifecycleConfiguration,
                   "PUT": Endpoint.PutBucketLifecycleConfiguration, "DELETE": Endpoint.DeleteBucketLifecycle}),
    ("tagging", {"GET": Endpoint.GetBucketTagging, "PUT": Endpoint.PutBucketTagging,
                 "DELETE": Endpoint.DeleteBucketTagging}),
    ("encryption", {"GET": Endpoint.GetBucketEncryption, "PUT": Endpoint.PutBucketEncryption,
                    "DELETE": Endpoint.DeleteBucketEncryption}),
    ("website", {"GET": Endpoint.GetBucketWebsite, "PUT": Endpoint.PutBucketWebsite,
                 "DELETE": Endpoint.DeleteBucketWebsite}),
    ("logging", {"GET": Endpoint.GetBucketLogging, "PUT": Endpoint.PutBucketLogging}),
    ("notification", {"GET": Endpoint.GetBucketNotificationConfiguration,
                      "PUT": Endpoint.PutBucketNotificationConfiguration}),
    ("replication", {"GET": Endpoint.GetBucketReplication, "PUT": Endpoint.PutBucketReplication,
                     "DELETE": Endpoint.DeleteBucketReplication}),
    ("object-lock", {"GET": Endpoint.GetObjectLockConfiguration, "PUT": Endpoint.PutObjectLockConfiguration}),
    ("publicAccessBlock", {"GET": Endpoint.GetPublicAccessBlock, "PUT": Endpoint.PutPublicAccessBlock,
                           "DELETE": Endpoint.DeletePublicAccessBlock}),
    ("ownershipControls", {"GET": Endpoint.GetBucketOwnershipControls, "PUT": Endpoint.PutBucketOwnershipControls,
                           "DELETE": Endpoint.DeleteBucketOwnershipControls}),
    ("accelerate", {"GET": Endpoint.GetBucketAccelerateConfiguration,
                    "PUT": Endpoint.PutBucketAccelerateConfiguration}),
    ("requestPayment", {"GET": Endpoint.GetBucketRequestPayment, "PUT": Endpoint.PutBucketRequestPayment}),
    ("analytics", {m: Endpoint.BucketAnalytics for m in ("GET", "PUT", "DELETE")}),
    ("metrics", {m: Endpoint.BucketMetrics for m in ("GET", "PUT", "DELETE")}),
    ("inventory", {m: Endpoint.BucketInventory for m in ("GET", "PUT", "DELETE")}),
    ("intelligent-tiering", {m: Endpoint.BucketIntelligentTiering for m in ("GET", "PUT", "DELETE")}),
)

_OBJECT_SUBRESOURCES: tuple[tuple[str, dict[str, Endpoint]], ...] = (
    ("tagging", {"GET": Endpoint.GetObjectTagging, "PUT": Endpoint.PutObjectTagging,
                 "DELETE": Endpoint.DeleteObjectTagging}),
    ("acl", {"GET": Endpoint.GetObjectAcl, "PUT": Endpoint.PutObjectAcl}),
    ("retention", {"GET": Endpoint.GetObjectRetention, "PUT": Endpoint.PutObjectRetention}),
    ("legal-hold", {"GET": Endpoint.GetObjectLegalHold, "PUT": Endpoint.PutObjectLegalHold}),
    ("attributes", {"GET": Endpoint.GetObjectAttributes}),
    ("torrent", {"GET": Endpoint.GetObjectTorrent}),
    ("restore", {"POST": Endpoint.RestoreObject}),
    ("select", {"POST": Endpoint.SelectObjectContent}),
)


def decode_path_segment(raw: str) -> str:
    """Percent-decode ``raw`` as UTF-8; ``+`` is literal in paths."""
    if "%" not in raw:
        return raw
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidURI("The path is not valid percent-encoded UTF-8.") from None


def host_bucket(host: str, domains: list[str]) -> str | None:
    """The bucket of a virtual-hosted-style Host header, or None for path style."""
    host = host.strip().lower()
    if host.startswith("["):           # IPv6 literal: never virtual-hosted
        return None
    host = host.rpartition(":")[0] if ":" in host else host
    for domain in domains:
        if host.endswith("." + domain) and len(host) > len(domain) + 1:
            return host[: -len(domain) - 1]
    return None


def resolve(request: Request, domains: list[str]) -> Route:
    """Resolve a request to its endpoint, bucket and key. Raises InvalidURI or MethodNotAllowed."""
    method = request.method
    path = request.raw_path or "/"
    if not path.startswith("/"):
        raise InvalidURI("The request path must start with '/'.")
    query = request.query

    vhost_bucket = host_bucket(request.headers.get("host") or "", domains) if domains else None
    if vhost_bucket is not None:
        bucket, key = vhost_bucket, decode_path_segment(path[1:])
    else:
        if path in (HEALTH_LIVE, HEALTH_READY) and method in ("GET", "HEAD"):
            return Route(Endpoint.HealthLive if path == HEALTH_LIVE else Endpoint.HealthReady)
        if path in (HEALTH_CLUSTER, METRICS) and method in ("GET", "HEAD"):
            return Route(Endpoint.HealthCluster if path == HEALTH_CLUSTER else Endpoint.Metrics)
        if path.startswith(ADMIN_PREFIX):
            return _admin_route(method, path[len(ADMIN_PREFIX):], query)
        raw_bucket, _, raw_key = path[1:].partition("/")
        bucket, key = decode_path_segment(raw_bucket), decode_path_segment(raw_key)

    if method == "OPTIONS":
        return Route(Endpoint.Options, bucket, key, vhost_bucket is not None)
    if not bucket:
        if method in ("GET", "HEAD"):
            return Route(Endpoint.ListBuckets)
        if vhost_bucket is None and _is_form_post(request):
            return Route(Endpoint.QueryApi)
        raise MethodNotAllowed()
    endpoint = _object_endpoint(method, query, request) if key else _bucket_endpoint(method, query)
    return Route(endpoint, bucket, key, vhost_bucket is not None)


def _is_form_post(request: Request) -> bool:
    """IAM and STS requests: ``POST /`` with a form body (S3 itself has no such request)."""
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    return request.method == "POST" and content_type == "application/x-www-form-urlencoded"


def _admin_route(method: str, rest: str, query: dict[str, str]) -> Route:
    """``POST /rustfs/admin/v3/heal`` heals everything, ``.../heal/<bucket>`` one bucket;
    ``POST .../kms/rewrap[?bucket=<bucket>]`` re-wraps data keys under the KMS keys' newest versions;
    ``POST .../ilm/run[?bucket=<bucket>]`` applies the lifecycle rules now; ``.../tier[/<name>[/verify]]``
    manages tiers (the route's bucket field carries the tier's name, its key ``verify``)."""
    for path, endpoint in (("kms/rewrap", Endpoint.AdminKmsRewrap), ("ilm/run", Endpoint.AdminIlmRun)):
        if rest.rstrip("/") == path:
            if method != "POST":
                raise MethodNotAllowed()
            return Route(endpoint, query.get("bucket", ""))
    name, _, bucket = rest.partition("/")
    if name == "tier":
        tier, _, action = bucket.strip("/").partition("/")
        allowed = {("", ""): ("GET", "PUT"), ("name", ""): ("DELETE",), ("name", "verify"): ("POST",)}
        methods = allowed.get(("name" if tier else "", action))
        if methods is None:
            raise InvalidURI("Unknown admin API.")
        if method not in methods:
            raise MethodNotAllowed()
        return Route(Endpoint.AdminTier, decode_path_segment(tier), action)
    if name != "heal":
        raise InvalidURI("Unknown admin API.")
    if method != "POST":
        raise MethodNotAllowed()
    return Route(Endpoint.AdminHeal, decode_path_segment(bucket.rstrip("/")))


def _subresource(method: str, query: dict[str, str],
                 table: tuple[tuple[str, dict[str, Endpoint]], ...]) -> Endpoint | None:
    for name, methods in table:
        if name in query:
            endpoint = methods.get(method)
            if endpoint is not None:
                return endpoint
    return None


def _bucket_endpoint(method: str, query: dict[str, str]) -> Endpoint:
    found = _subresource(method, query, _BUCKET_SUBRESOURCES)
    if found is not None:
        return found
    if method == "GET":
        return Endpoint.ListObjectsV2 if query.get("list-type") == "2" else Endpoint.ListObjects
    plain = {"HEAD": Endpoint.HeadBucket, "PUT": Endpoint.CreateBucket,
             "DELETE": Endpoint.DeleteBucket, "POST": Endpoint.PostObject}
    if method in plain:
        return plain[method]
    raise MethodNotAllowed()


def _object_endpoint(method: str, query: dict[str, str], request: Request) -> Endpoint:
    # Multipart parameters win over other subresources: they are what the client is doing.
    if "uploadId" in query:
        by_method = {"GET": Endpoint.ListParts, "POST": Endpoint.CompleteMultipartUpload,
                     "DELETE": Endpoint.AbortMultipartUpload}
        if method == "PUT":
            if "x-amz-copy-source" in request.headers:
                return Endpoint.UploadPartCopy
            return Endpoint.UploadPart
        if method in by_method:
            return by_method[method]
    if method == "POST" and "uploads" in query:
        return Endpoint.CreateMultipartUpload
    found = _subresource(method, query, _OBJECT_SUBRESOURCES)
    if found is not None:
        return found
    if method == "PUT":
        return Endpoint.CopyObject if "x-amz-copy-source" in request.headers else Endpoint.PutObject
    plain = {"GET": Endpoint.GetObject, "HEAD": Endpoint.HeadObject, "DELETE": Endpoint.DeleteObject}
    if method in plain:
        return plain[method]
    raise MethodNotAllowed()
