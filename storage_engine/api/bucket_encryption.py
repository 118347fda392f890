"""Bucket default encryption: Put/Get/DeleteBucketEncryption (``/<bucket>?encryption``).

The document (one rule; AWS accepts exactly one)::

    <ServerSideEncryptionConfiguration>
      <Rule>
        <ApplyServerSideEncryptionByDefault>
          <SSEAlgorithm>AES256 | aws:kms</SSEAlgorithm>
          <KMSMasterKeyID>key</KMSMasterKeyID>          (aws:kms only; absent: the server's default key)
        </ApplyServerSideEncryptionByDefault>
        <BucketKeyEnabled>false</BucketKeyEnabled>      (accepted; always answered false)
      </Rule>
    </ServerSideEncryptionConfiguration>

The layer keeps it (``put_bucket_encryption``); new objects without SSE headers get it (docs/encryption.md).
"""

from __future__ import annotations

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.xml import XmlNode, XmlWriter, parse_xml
from storage_engine.errors import MalformedXML, ServerSideEncryptionConfigurationNotFoundError
from storage_engine.http.types import Response
from storage_engine.objects.types import SseRequest

MAX_ENCRYPTION_BODY = 64 * 1024
ROOT = "ServerSideEncryptionConfiguration"


def parse_encryption(data: bytes) -> SseRequest:
    """The configuration document -> the bucket's default ``SseRequest`` (MalformedXML on anything else)."""
    root = parse_xml(data, ROOT, MAX_ENCRYPTION_BODY)
    rules = root.findall("Rule")
    if len(rules) != 1:
        raise MalformedXML()
    rule = rules[0]
    default: XmlNode | None = rule.find("ApplyServerSideEncryptionByDefault")
    if default is None:
        raise MalformedXML()
    bucket_key = (rule.findtext("BucketKeyEnabled") or "false").strip().lower()
    if bucket_key not in ("true", "false"):
        raise MalformedXML()
    algorithm = (default.findtext("SSEAlgorithm") or "").strip()
    key_id = (default.findtext("KMSMasterKeyID") or "").strip() or None
    if algorithm == "AES256":
        if key_id is not None:
            raise MalformedXML("KMSMasterKeyID is allowed only with SSEAlgorithm aws:kms.")
        return SseRequest(mode="S3")
    if algorithm == "aws:kms":
        return SseRequest(mode="KMS", kms_key_id=key_id)
    raise MalformedXML()


def encryption_document(sse: SseRequest) -> bytes:
    w = XmlWriter(ROOT)
    w.open("Rule")
    w.open("ApplyServerSideEncryptionByDefault")
    w.elem("SSEAlgorithm", "AES256" if sse.mode == "S3" else "aws:kms")
    if sse.mode == "KMS" and sse.kms_key_id:
        w.elem("KMSMasterKeyID", sse.kms_key_id)
    w.close("ApplyServerSideEncryptionByDefault")
    w.elem("BucketKeyEnabled", False)
    w.close("Rule")
    return w.finish()


async def handle_put_bucket_encryption(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    body = await read_small_body(req.body, ctx.headers, MAX_ENCRYPTION_BODY)
    sse = parse_encryption(body)
    await ctx.layer.put_bucket_encryption(ctx.bucket, sse)
    return Response(status=200)


async def handle_get_bucket_encryption(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    sse = await ctx.layer.get_bucket_encryption(ctx.bucket)
    if sse is None:
        raise ServerSideEncryptionConfigurationNotFoundError()
    return xml_response(encryption_document(sse))


async def handle_delete_bucket_encryption(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await ctx.layer.put_bucket_encryption(ctx.bucket, None)
    return Response(status=204)
