"""DeleteObjects: up to 1000 keys per request, each deleted on its own, each with its own result.

A key that fails (invalid name, storage error) becomes an ``<Error>`` entry rather than failing the
request. Deletions run with bounded concurrency: each one is a metadata write on every drive of a set,
so running them one by one would make a 1000-key request needlessly slow.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from storage_engine.api.acl import marker_owner
from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.meta import bypass_requested
from storage_engine.api.names import validate_key
from storage_engine.api.policy import Authorizer
from storage_engine.api.router import Endpoint
from storage_engine.api.xml import XmlWriter, parse_xml
from storage_engine.errors import InternalError, MalformedXML, S3Error
from storage_engine.http.types import Response
from storage_engine.iam.actions import BYPASS_GOVERNANCE_ACTION, actions_for
from storage_engine.objects.types import DeleteResult

log = logging.getLogger(__name__)

MAX_KEYS = 1000
MAX_DELETE_BODY = 2 << 20          # 1000 keys of up to 1024 bytes, escaped, plus markup
CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class DeleteTarget:
    key: str
    version_id: str | None


def parse_delete(data: bytes) -> tuple[bool, list[DeleteTarget]]:
    """The ``<Delete>`` document -> (quiet, targets)."""
    root = parse_xml(data, "Delete", MAX_DELETE_BODY)
    quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
    targets: list[DeleteTarget] = []
    for node in root.findall("Object"):
        key = node.findtext("Key")
        if key is None:
            raise MalformedXML()
        version_id = node.findtext("VersionId")
        targets.append(DeleteTarget(key, version_id.strip() if version_id else None))
    if not targets or len(targets) > MAX_KEYS:
        raise MalformedXML()
    return quiet, targets


async def _delete_one(ctx: ReqCtx, target: DeleteTarget, limit: asyncio.Semaphore,
                      authorizer: Authorizer, owner: str, bypass: bool) -> DeleteResult | S3Error:
    try:
        validate_key(target.key)
        await authorizer.check(actions_for(Endpoint.DeleteObject, version_id=bool(target.version_id))[0],
                               ctx.bucket, target.key, version_id=target.version_id)
        async with limit:
            # Object lock: x-amz-bypass-governance-retention counts for the keys its caller may bypass on.
            if bypass and await authorizer.allowed(BYPASS_GOVERNANCE_ACTION, ctx.bucket, target.key,
                                                   version_id=target.version_id):
                return await ctx.layer.delete_object(ctx.bucket, target.key, target.version_id, owner=owner,
                                                     bypass_governance=True)
            return await ctx.layer.delete_object(ctx.bucket, target.key, target.version_id, owner=owner)
    except S3Error as exc:
        return exc
    except Exception:
        log.exception("DeleteObjects %s/%s failed", ctx.bucket, target.key)
        return InternalError()


async def handle_delete_objects(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    quiet, targets = parse_delete(await read_small_body(req.body, ctx.headers, MAX_DELETE_BODY))
    owner = await marker_owner(ctx)        # of new delete markers; NoSuchBucket fails the whole request
    limit = asyncio.Semaphore(CONCURRENCY)
    authorizer = await Authorizer.create(ctx, req)     # s3:DeleteObject on each key (a refused one: <Error>)
    bypass = bypass_requested(ctx.headers)
    results = await asyncio.gather(*(_delete_one(ctx, target, limit, authorizer, owner, bypass)
                                     for target in targets))
    w = XmlWriter("DeleteResult")
    for target, result in zip(targets, results):
        if isinstance(result, S3Error):
            w.open("Error")
            w.elem("Key", target.key)
            w.elem("VersionId", target.version_id)
            w.elem("Code", result.code)
            w.elem("Message", result.message)
            w.close("Error")
        elif not quiet:
            w.open("Deleted")
            w.elem("Key", target.key)
            w.elem("VersionId", target.version_id)
            if result.delete_marker:
                w.elem("DeleteMarker", True)
                w.elem("DeleteMarkerVersionId", result.version_id)
            w.close("Deleted")
    return xml_response(w.finish())
