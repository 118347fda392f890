"""The engine's admin API: ``POST /rustfs/admin/v3/heal[/<bucket>]`` (root only) -> the HealReport as JSON."""

from __future__ import annotations

import dataclasses
import json

from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.names import validate_bucket_name
from storage_engine.http.types import Response


async def handle_admin_heal(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    if ctx.bucket:
        validate_bucket_name(ctx.bucket)
        await ctx.layer.get_bucket_info(ctx.bucket)       # NoSuchBucket rather than an empty report
    report = await ctx.layer.heal(ctx.bucket or None)
    body = json.dumps(dataclasses.asdict(report), indent=2).encode()
    return Response(status=200, headers=[("Content-Type", "application/json")], body=body)
