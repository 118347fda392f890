"""The engine's admin API (root only), each answering a report as JSON:

- ``POST /rustfs/admin/v3/heal[/<bucket>]`` -> the HealReport;
- ``POST /rustfs/admin/v3/kms/rewrap[?bucket=<bucket>]`` -> the RewrapReport (data keys re-wrapped under
  their KMS keys' newest versions; 503 KMSUnavailable when the KMS is);
- ``POST /rustfs/admin/v3/ilm/run[?bucket=<bucket>]`` -> the IlmReport (the lifecycle rules applied now,
  unpaced, by the scanner's code: ``objects/scanner.py``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.names import validate_bucket_name
from storage_engine.errors import NotImplementedError_
from storage_engine.http.types import Response
from storage_engine.objects.scanner import UsageScanner


async def handle_admin_heal(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    if ctx.bucket:
        validate_bucket_name(ctx.bucket)
        await ctx.layer.get_bucket_info(ctx.bucket)       # NoSuchBucket rather than an empty report
    report = await ctx.layer.heal(ctx.bucket or None)
    return _json(dataclasses.asdict(report))


async def handle_admin_kms_rewrap(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    if ctx.bucket:
        validate_bucket_name(ctx.bucket)
    report = await ctx.layer.rewrap_keys(ctx.bucket or None)   # NoSuchBucket for a missing one
    return _json(dataclasses.asdict(report))


async def handle_admin_ilm_run(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    if ctx.bucket:
        validate_bucket_name(ctx.bucket)
        await ctx.layer.get_bucket_info(ctx.bucket)       # NoSuchBucket rather than an empty report
    scanner = getattr(ctx.layer, "scanner", None)
    if not isinstance(scanner, UsageScanner):
        raise NotImplementedError_("This server applies no lifecycle rules.")
    report = await scanner.run_lifecycle(ctx.bucket or None)
    return _json(dataclasses.asdict(report))


def _json(doc: dict[str, Any]) -> Response:
    body = json.dumps(doc, indent=2).encode()
    return Response(status=200, headers=[("Content-Type", "application/json")], body=body)
