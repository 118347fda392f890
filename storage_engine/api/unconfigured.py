"""Reads of bucket sub-resources this server cannot configure yet (website, replication, ...).

Nothing can set them, so none is configured: every such Get answers exactly as S3 does for a bucket
without that configuration (the specific 404, or the empty default document). Clients such as
s3cmd ``info`` and rclone probe these and treat "not configured" as normal, whereas a 501 would be
an error to them. The Put/Delete counterparts stay NotImplemented.
"""

from __future__ import annotations

from storage_engine import errors
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.router import Endpoint
from storage_engine.api.xml import XmlWriter
from storage_engine.http.types import Response

_NOT_CONFIGURED: dict[Endpoint, type[errors.S3Error]] = {
    Endpoint.GetBucketPolicy: errors.NoSuchBucketPolicy,
    Endpoint.GetBucketWebsite: errors.NoSuchWebsiteConfiguration,
    Endpoint.GetBucketReplication: errors.ReplicationConfigurationNotFoundError,
    Endpoint.GetPublicAccessBlock: errors.NoSuchPublicAccessBlockConfiguration,
}


def _empty_document(endpoint: Endpoint) -> bytes:
    if endpoint is Endpoint.GetBucketLogging:
        return XmlWriter("BucketLoggingStatus").finish()
    if endpoint is Endpoint.GetBucketNotificationConfiguration:
        return XmlWriter("NotificationConfiguration").finish()
    if endpoint is Endpoint.GetBucketAccelerateConfiguration:
        return XmlWriter("AccelerateConfiguration").finish()
    w = XmlWriter("RequestPaymentConfiguration")        # GetBucketRequestPayment
    w.elem("Payer", "BucketOwner")
    return w.finish()


async def handle_unconfigured(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await ctx.layer.get_bucket_info(ctx.bucket)         # NoSuchBucket first, as on S3
    error = _NOT_CONFIGURED.get(ctx.endpoint)
    if error is not None:
        raise error()
    return xml_response(_empty_document(ctx.endpoint))


ENDPOINTS: tuple[Endpoint, ...] = (*_NOT_CONFIGURED, Endpoint.GetBucketLogging,
                                   Endpoint.GetBucketNotificationConfiguration,
                                   Endpoint.GetBucketAccelerateConfiguration, Endpoint.GetBucketRequestPayment)
