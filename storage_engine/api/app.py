"""The S3 application: route -> authenticate -> authorize -> handler, and errors as S3 XML.

``S3App`` is the ``http.types.App`` the server calls. It never raises: an ``S3Error`` becomes its
XML document and status (with the error's extra headers); anything else is logged with its traceback
and answered with a bare 500 InternalError, so no internals ever reach a client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from storage_engine import audit
from storage_engine.api import (
    acl,
    admin,
    attributes,
    bucket,
    bucket_encryption,
    bucket_lifecycle,
    bucket_policy,
    bucket_tagging,
    copy,
    cors,
    delete,
    expected_owner,
    health,
    listing,
    multipart,
    object,
    object_lock,
    ownership,
    post_object,
    public_access_block,
    restore,
    tagging,
    unconfigured,
)
from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.names import validate_bucket_name, validate_key
from storage_engine.api.policy import authorize
from storage_engine.api.query import error_response as query_error_response, handle_query
from storage_engine.api.router import UNAUTHENTICATED, Endpoint, Route, resolve
from storage_engine.api.xml import CONTENT_TYPE, error_body
from storage_engine.auth import CredentialStore, verify_request
from storage_engine.auth.credentials import CredentialLookup
from storage_engine.config import EngineSettings
from storage_engine.errors import InternalError, NotImplementedError_, S3Error
from storage_engine.http.response import RequestIds
from storage_engine.http.types import Request, Response
from storage_engine.metrics import metrics
from storage_engine.metrics.endpoint import handle_metrics
from storage_engine.iam.principal import Principal
from storage_engine.objects.types import ObjectLayer

log = logging.getLogger(__name__)
_requests = metrics.requests

Handler = Callable[[ReqCtx, VerifiedRequest], Awaitable[Response]]

HANDLERS: dict[Endpoint, Handler] = {
    Endpoint.ListBuckets: bucket.handle_list_buckets,
    Endpoint.CreateBucket: bucket.handle_create_bucket,
    Endpoint.DeleteBucket: bucket.handle_delete_bucket,
    Endpoint.HeadBucket: bucket.handle_head_bucket,
    Endpoint.GetBucketLocation: bucket.handle_get_bucket_location,
    Endpoint.GetBucketVersioning: bucket.handle_get_bucket_versioning,
    Endpoint.PutBucketVersioning: bucket.handle_put_bucket_versioning,
    Endpoint.GetBucketAcl: acl.handle_get_bucket_acl,
    Endpoint.PutBucketAcl: acl.handle_put_bucket_acl,
    Endpoint.GetObjectAcl: acl.handle_get_object_acl,
    Endpoint.PutObjectAcl: acl.handle_put_object_acl,
    Endpoint.GetBucketOwnershipControls: ownership.handle_get_bucket_ownership_controls,
    Endpoint.PutBucketOwnershipControls: ownership.handle_put_bucket_ownership_controls,
    Endpoint.DeleteBucketOwnershipControls: ownership.handle_delete_bucket_ownership_controls,
    Endpoint.ListObjects: listing.handle_list_objects,
    Endpoint.ListObjectsV2: listing.handle_list_objects_v2,
    Endpoint.ListObjectVersions: listing.handle_list_object_versions,
    Endpoint.PutObject: object.handle_put_object,
    Endpoint.GetObject: object.handle_get_object,
    Endpoint.HeadObject: object.handle_head_object,
    Endpoint.DeleteObject: object.handle_delete_object,
    Endpoint.CopyObject: copy.handle_copy_object,
    Endpoint.DeleteObjects: delete.handle_delete_objects,
    Endpoint.GetObjectTagging: tagging.handle_get_object_tagging,
    Endpoint.PutObjectTagging: tagging.handle_put_object_tagging,
    Endpoint.DeleteObjectTagging: tagging.handle_delete_object_tagging,
    Endpoint.GetObjectAttributes: attributes.handle_get_object_attributes,
    Endpoint.CreateMultipartUpload: multipart.handle_create_multipart_upload,
    Endpoint.UploadPart: multipart.handle_upload_part,
    Endpoint.UploadPartCopy: multipart.handle_upload_part_copy,
    Endpoint.CompleteMultipartUpload: multipart.handle_complete_multipart_upload,
    Endpoint.AbortMultipartUpload: multipart.handle_abort_multipart_upload,
    Endpoint.ListParts: multipart.handle_list_parts,
    Endpoint.ListMultipartUploads: multipart.handle_list_multipart_uploads,
    Endpoint.AdminHeal: admin.handle_admin_heal,
    Endpoint.AdminKmsRewrap: admin.handle_admin_kms_rewrap,
    Endpoint.AdminIlmRun: admin.handle_admin_ilm_run,
    Endpoint.AdminTier: admin.handle_admin_tier,
    Endpoint.RestoreObject: restore.handle_restore_object,
    Endpoint.GetBucketEncryption: bucket_encryption.handle_get_bucket_encryption,
    Endpoint.PutBucketEncryption: bucket_encryption.handle_put_bucket_encryption,
    Endpoint.DeleteBucketEncryption: bucket_encryption.handle_delete_bucket_encryption,
    Endpoint.GetBucketLifecycleConfiguration: bucket_lifecycle.handle_get_bucket_lifecycle,
    Endpoint.PutBucketLifecycleConfiguration: bucket_lifecycle.handle_put_bucket_lifecycle,
    Endpoint.DeleteBucketLifecycle: bucket_lifecycle.handle_delete_bucket_lifecycle,
    Endpoint.GetBucketPolicy: bucket_policy.handle_get_bucket_policy,
    Endpoint.PutBucketPolicy: bucket_policy.handle_put_bucket_policy,
    Endpoint.DeleteBucketPolicy: bucket_policy.handle_delete_bucket_policy,
    Endpoint.GetBucketPolicyStatus: bucket_policy.handle_get_bucket_policy_status,
    Endpoint.GetPublicAccessBlock: public_access_block.handle_get_public_access_block,
    Endpoint.PutPublicAccessBlock: public_access_block.handle_put_public_access_block,
    Endpoint.DeletePublicAccessBlock: public_access_block.handle_delete_public_access_block,
    Endpoint.GetBucketCors: cors.handle_get_bucket_cors,
    Endpoint.PutBucketCors: cors.handle_put_bucket_cors,
    Endpoint.DeleteBucketCors: cors.handle_delete_bucket_cors,
    Endpoint.GetBucketTagging: bucket_tagging.handle_get_bucket_tagging,
    Endpoint.PutBucketTagging: bucket_tagging.handle_put_bucket_tagging,
    Endpoint.DeleteBucketTagging: bucket_tagging.handle_delete_bucket_tagging,
    Endpoint.GetObjectLockConfiguration: object_lock.handle_get_object_lock_configuration,
    Endpoint.PutObjectLockConfiguration: object_lock.handle_put_object_lock_configuration,
    Endpoint.GetObjectRetention: object_lock.handle_get_object_retention,
    Endpoint.PutObjectRetention: object_lock.handle_put_object_retention,
    Endpoint.GetObjectLegalHold: object_lock.handle_get_object_legal_hold,
    Endpoint.PutObjectLegalHold: object_lock.handle_put_object_legal_hold,
}
HANDLERS.update({endpoint: unconfigured.handle_unconfigured for endpoint in unconfigured.ENDPOINTS
                 if endpoint not in HANDLERS})

# How long readiness may take before the probe calls the engine not ready.
READY_TIMEOUT_SECONDS = 5.0


class _Finished:
    """One request's "request finished" hook: what the app knows of it, called by the server with what it
    measured (bytes, times). Used by the audit log (and the request metrics)."""

    __slots__ = ("app", "request", "route", "request_id", "started", "principal", "code")

    def __init__(self, app: S3App, request: Request, route: Route, request_id: str) -> None:
        self.app = app
        self.request = request
        self.route = route
        self.request_id = request_id
        self.started = time.time()
        self.principal: Principal | None = None
        self.code = ""                          # the S3 error code, "" for a success

    def __call__(self, response: Response, received: int, sent: int, ttfb: float, total: float) -> None:
        self.app._request_finished(self, response, received, sent, ttfb, total)


@runtime_checkable
class SupportsReadiness(Protocol):
    """Optional on an ObjectLayer: whether every erasure set has a read quorum of drives online."""

    async def ready(self) -> bool: ...


class S3App:
    """The ``App`` the HTTP server calls for every request."""

    def __init__(self, layer: ObjectLayer, settings: EngineSettings,
                 credentials: CredentialStore | None = None) -> None:
        self.layer = layer
        self.settings = settings
        # The layer's IAM store (users, keys, sessions); root alone for layers without one (test fakes).
        self.credentials: CredentialLookup = credentials or getattr(layer, "iam", None) \
            or CredentialStore.from_settings(settings)
        self._domains = settings.domains
        self._request_ids = RequestIds()     # random per process, then a counter: no syscall per request
        self._audit = audit.current()
        self._metrics = settings.metrics_enabled
        # Without metrics or an audit log, no request-finished hook at all (nothing to tell).
        self._observed = self._metrics or self._audit is not None

    async def __call__(self, request: Request) -> Response:
        request_id = self._request_ids.next()
        route: Route | None = None
        finished: _Finished | None = None
        try:
            route = resolve(request, self._domains)
            if route.endpoint in UNAUTHENTICATED:
                response = await self._health(route.endpoint, request)
            else:
                finished = _Finished(self, request, route, request_id) if self._observed else None
                if self._metrics:
                    _requests.started()
                response = await self._serve(request, route, request_id, finished)
        except S3Error as exc:
            response = self._error_response(request, route, exc, request_id)
            if finished is not None:
                finished.code = exc.code
        except Exception:   # never BaseException: cancellation must propagate
            log.exception("internal error serving %s %s (request %s)", request.method, request.raw_path, request_id)
            response = self._error_response(request, route, InternalError(), request_id)
            if finished is not None:
                finished.code = InternalError.code
        if route is not None and "origin" in request.headers:     # only requests with an Origin pay for CORS
            response.headers.extend(await cors.actual_headers(getattr(self.layer, "buckets", None), route, request))
        response.headers.append(("x-amz-request-id", request_id))
        response.headers.append(("x-amz-id-2", request_id))
        if finished is not None:
            response.on_finished = finished
        return response

    def _request_finished(self, done: _Finished, response: Response, received: int, sent: int, ttfb: float,
                          total: float) -> None:
        """The request's outcome, once per request (http/types.py ``Response.on_finished``)."""
        principal = done.principal
        if self._metrics:
            _requests.finished(done.route.endpoint.value, done.route.bucket,
                               principal is not None and not principal.is_anonymous, response.status, done.code,
                               received, sent, ttfb, total)
        if self._audit is not None:
            request = done.request
            self._audit.emit(audit.Entry(
                done.started, done.request_id, done.route.endpoint.value, done.route.bucket, done.route.key,
                response.status, done.code, received, sent, ttfb, total, request.client, request.headers,
                request.query, response.headers, done.principal))

    async def _serve(self, request: Request, route: Route, request_id: str, finished: _Finished | None) -> Response:
        if route.endpoint is Endpoint.Options:      # CORS preflight: the bucket's rules answer, no credentials
            return await cors.handle_preflight(getattr(self.layer, "buckets", None), route.bucket, request.headers)
        verified = await verify_request(request, self.credentials, self.settings)
        identity = verified.principal
        if finished is not None:
            finished.principal = identity
        if route.bucket and route.endpoint is not Endpoint.AdminTier:   # there it names a tier (upper case)
            validate_bucket_name(route.bucket)
        if route.key:
            validate_key(route.key, reading=request.method in ("GET", "HEAD"))
        if route.endpoint is Endpoint.QueryApi:     # IAM / STS authorize their own actions (api/query.py)
            return await handle_query(ReqCtx(layer=self.layer, settings=self.settings, endpoint=route.endpoint,
                                             bucket="", key="", identity=identity, request_id=request_id,
                                             query=request.query, headers=request.headers,
                                             secure=request.secure), verified)
        ctx = ReqCtx(layer=self.layer, settings=self.settings, endpoint=route.endpoint, bucket=route.bucket,
                     key=route.key, identity=identity, request_id=request_id, query=request.query,
                     headers=request.headers, secure=request.secure)
        if route.endpoint is Endpoint.PostObject:    # the form carries its credentials (api/post_object.py)
            return await post_object.handle_post_object(ctx, verified, self.credentials)
        await authorize(ctx, verified)
        if expected_owner.carries(request.headers):
            await expected_owner.check_expected_owner(ctx)
        handler = HANDLERS.get(route.endpoint)
        if handler is None:
            raise NotImplementedError_(f"{route.endpoint.value} is not implemented.")
        return await handler(ctx, verified)

    async def _health(self, endpoint: Endpoint, request: Request) -> Response:
        """Liveness: the process answers. Readiness: storage can serve reads (a read quorum is online).
        Also the cluster's health (``api/health.py``) and the metrics (``metrics/endpoint.py``)."""
        if endpoint == Endpoint.HealthLive:
            return Response(status=200)
        if endpoint == Endpoint.Metrics:
            return await handle_metrics(request, self.settings)
        if endpoint == Endpoint.HealthCluster:
            return await health.handle_cluster(self.layer, request)
        layer = self.layer
        try:
            if isinstance(layer, SupportsReadiness):
                ready = await asyncio.wait_for(layer.ready(), READY_TIMEOUT_SECONDS)
            else:       # a layer without the hook: it is ready when it can list buckets
                await asyncio.wait_for(layer.list_buckets(), READY_TIMEOUT_SECONDS)
                ready = True
        except Exception as exc:   # whatever the cause, storage cannot serve: not ready
            log.warning("readiness check failed: %r", exc)
            ready = False
        return Response(status=200 if ready else 503)

    def _error_response(self, request: Request, route: Route | None, error: S3Error, request_id: str) -> Response:
        headers = list(error.headers.items())
        # HEAD responses and 304s carry no body: the status and headers say it all.
        if request.method == "HEAD" or error.status == 304:
            return Response(status=error.status, headers=headers)
        if route is not None and route.endpoint is Endpoint.QueryApi:    # IAM / STS clients parse ErrorResponse
            return query_error_response(error.code, error.message, error.status, request_id)
        if route is not None and route.bucket:
            resource = f"/{route.bucket}/{route.key}" if route.key else f"/{route.bucket}"
        else:
            resource = request.raw_path
        body = error_body(error, resource, request_id)
        headers.append(("Content-Type", CONTENT_TYPE))
        return Response(status=error.status, headers=headers, body=body)
