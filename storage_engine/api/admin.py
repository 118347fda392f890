"""The engine's admin API (root only), each answering a report as JSON:

- ``POST /rustfs/admin/v3/heal[/<bucket>]`` -> the HealReport;
- ``POST /rustfs/admin/v3/kms/rewrap[?bucket=<bucket>]`` -> the RewrapReport (data keys re-wrapped under
  their KMS keys' newest versions; 503 KMSUnavailable when the KMS is);
- ``POST /rustfs/admin/v3/ilm/run[?bucket=<bucket>]`` -> the IlmReport (the lifecycle rules applied now,
  unpaced, by the scanner's code: ``objects/scanner.py``);
- tiers (``lifecycle/registry.py``): ``GET .../tier`` -> {"tiers": [...]} (no secrets); ``PUT .../tier`` with
  a JSON cold tier (an ``S3TierSpec`` with ``access_key`` and ``secret_key``) adds it once a probe passed;
  ``DELETE .../tier/<name>`` removes an added tier no version lives on (400 with their count otherwise);
  ``POST .../tier/<name>/verify`` probes it -> {"name", "online", "error"}.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.names import validate_bucket_name
from storage_engine.errors import InvalidArgument, NotImplementedError_
from storage_engine.http.types import Response
from storage_engine.lifecycle.registry import TierRegistry
from storage_engine.lifecycle.tiers import TierError
from storage_engine.objects.layer import ErasureObjectLayer
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


MAX_TIER_BODY = 64 * 1024


async def handle_admin_tier(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    tiers = getattr(ctx.layer, "tiers", None)
    if not isinstance(tiers, TierRegistry) or not isinstance(ctx.layer, ErasureObjectLayer):
        raise NotImplementedError_("This server has no tiers.")
    name, method = ctx.bucket, req.request.method
    if not name and method == "GET":
        return _json({"tiers": await tiers.describe()})
    if not name:                                          # PUT: add
        try:
            doc = json.loads(await read_small_body(req.body, ctx.headers, MAX_TIER_BODY))
        except ValueError:
            raise InvalidArgument("The tier must be a JSON object.") from None
        if not isinstance(doc, dict):
            raise InvalidArgument("The tier must be a JSON object.")
        await tiers.add(doc)
        return _json({"added": doc.get("name")})
    if method == "DELETE":
        await tiers.remove(name, await ctx.layer.versions_on_tier(name))
        return Response(status=204)
    tier = await tiers.get(name)
    if tier is None:
        raise InvalidArgument(f"There is no tier named {name}.")
    try:
        await tier.probe()
    except TierError as exc:
        return _json({"name": name, "online": False, "error": str(exc)})
    return _json({"name": name, "online": True, "error": ""})


def _json(doc: dict[str, Any]) -> Response:
    body = json.dumps(doc, indent=2).encode()
    return Response(status=200, headers=[("Content-Type", "application/json")], body=body)
