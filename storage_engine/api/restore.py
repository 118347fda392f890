"""RestoreObject (``POST /<bucket>/<key>?restore``): a copy of a transitioned version back on the hot
drives for ``Days`` days (docs/tiering.md). Reads of transitioned objects never need it (they are served
from the tier); a restored copy only makes them local again for a while. As on AWS: 202 for a new
restore, 200 when a restored copy exists (its time extended); ``x-amz-restore`` on GET and HEAD.
"""

from __future__ import annotations

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.object import version_id_param
from storage_engine.api.xml import parse_xml
from storage_engine.errors import InvalidArgument, MalformedXML, NotImplementedError_
from storage_engine.http.types import Response
from storage_engine.objects.layer import ErasureObjectLayer

MAX_BODY = 64 * 1024
MAX_DAYS = 36500


async def handle_restore_object(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    if not isinstance(ctx.layer, ErasureObjectLayer):
        raise NotImplementedError_("This server has no tiers.")
    root = parse_xml(await read_small_body(req.body, ctx.headers, MAX_BODY), "RestoreRequest", MAX_BODY)
    if root.find("SelectParameters") is not None or root.findtext("Type"):
        raise NotImplementedError_("SELECT restores are not supported.")
    text = root.findtext("Days")
    if text is None:
        raise MalformedXML("RestoreRequest needs Days.")
    try:
        days = int(text)
    except ValueError:
        raise MalformedXML("Days must be an integer.") from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidArgument(f"Days must be between 1 and {MAX_DAYS}.")
    version_id = version_id_param(ctx.query)
    existed = await ctx.layer.restore_object(ctx.bucket, ctx.key, version_id, days)
    return Response(status=200 if existed else 202)

