"""Bucket policies: Put/Get/DeleteBucketPolicy (``/<bucket>?policy``) and GetBucketPolicyStatus
(``?policyStatus``).

A policy is validated by ``iam.policy.Policy.parse(bucket_policy=True)`` (MalformedPolicy with the parser's
message), must name only this bucket (``arn:aws:s3:::<bucket>`` or below it: "Policy has invalid resource")
and only S3 actions ("Policy has invalid action"), and is kept canonical (``Policy.to_json``) in the bucket
record (``BucketMeta.policy``). With the bucket's BlockPublicPolicy set, a public policy is refused
(AccessDenied, as AWS). :func:`parsed_policy` parses a stored policy once per text (the record's version),
never per request.

"Public" is AWS's (The meaning of "public", S3 User Guide): an Allow statement that grants to everyone
(``Principal: "*"``, ``{"AWS": "*"}``, a wildcard principal or a NotPrincipal) is public unless a condition
fixes who may use it: ``aws:SourceIp`` limited to CIDRs (not ``/0``), or a fixed value (no wildcard, no
policy variable) of ``aws:SourceArn``, ``aws:SourceVpc``, ``aws:SourceVpce``, ``aws:SourceOwner``,
``aws:SourceAccount``, ``aws:PrincipalAccount``, ``aws:PrincipalOrgID``, ``aws:userid`` or
``s3:x-amz-server-side-encryption-aws-kms-key-id``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.public_access_block import bucket_records, bucket_store, public_access_block
from storage_engine.api.xml import XmlWriter
from storage_engine.errors import AccessDenied, MalformedPolicy, NoSuchBucketPolicy
from storage_engine.http.types import Response
from storage_engine.iam.conditions import Condition
from storage_engine.iam.policy import Policy, PolicyError, Statement
from storage_engine.objects.buckets import BucketMeta, BucketStore

__all__ = ["MAX_POLICY_SIZE", "is_public", "parse_bucket_policy", "parsed_policy"]

MAX_POLICY_SIZE = 20 * 1024          # AWS: a bucket policy is at most 20 KB

_FIXING_KEYS = frozenset({"aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner",
                          "aws:sourceaccount", "aws:principalaccount", "aws:principalorgid", "aws:userid",
                          "s3:x-amz-server-side-encryption-aws-kms-key-id"})
_FIXING_OPERATORS = frozenset({"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike"})


@lru_cache(maxsize=4096)
def parsed_policy(text: str) -> Policy:
    """A stored (canonical, already validated) bucket policy, parsed once per text."""
    return Policy.parse(text, bucket_policy=True)


def parse_bucket_policy(data: bytes, bucket: str) -> Policy:
    """Validate a PutBucketPolicy body for ``bucket``; MalformedPolicy says what is wrong."""
    if len(data) > MAX_POLICY_SIZE:
        raise MalformedPolicy("Policy exceeds the maximum allowed document size.")
    try:
        policy = Policy.parse(data, bucket_policy=True)
    except PolicyError as exc:
        raise MalformedPolicy(str(exc)) from None
    arn = f"arn:aws:s3:::{bucket}"
    for statement in policy.statements:
        for action in statement.actions:
            if action != "*" and not action.lower().startswith("s3:"):
                raise MalformedPolicy("Policy has invalid action")
        for resource in statement.resources:
            if resource != arn and not resource.startswith(arn + "/"):
                raise MalformedPolicy("Policy has invalid resource")
    return policy


def _fixed(value: str) -> bool:
    return not any(c in value for c in "*?") and "${" not in value


def _fixes_caller(condition: Condition) -> bool:
    if condition.qualifier or condition.if_exists:
        return False
    key = condition.key.lower()
    if key == "aws:sourceip":
        return condition.operator == "IpAddress" and all(not v.endswith("/0") for v in condition.values)
    return (key in _FIXING_KEYS and condition.operator in _FIXING_OPERATORS
            and all(_fixed(v) for v in condition.values))


def _grants_everyone(statement: Statement) -> bool:
    principal = statement.principal
    if principal is None or statement.not_principal or principal.everyone:
        return True
    return any(kind == "AWS" and not _fixed(ident) for kind, ident in principal.ids)


def is_public(policy: Policy) -> bool:
    """AWS's "public": some Allow grants to everyone without a condition that fixes the caller."""
    return any(s.effect == "Allow" and _grants_everyone(s) and not any(_fixes_caller(c) for c in s.conditions)
               for s in policy.statements)


async def _buckets(ctx: ReqCtx) -> BucketStore:
    return await bucket_records(ctx, "bucket policies", NoSuchBucketPolicy)


async def handle_put_bucket_policy(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    buckets = await _buckets(ctx)
    data = await read_small_body(req.body, ctx.headers, 2 * MAX_POLICY_SIZE)
    policy = parse_bucket_policy(data, ctx.bucket)
    text = policy.to_json()
    public = is_public(policy)

    def change(meta: BucketMeta) -> BucketMeta:
        if public and public_access_block(meta).block_public_policy:
            raise AccessDenied()
        return replace(meta, policy=text)

    await buckets.update(ctx.bucket, change)
    return Response(status=204)


async def handle_get_bucket_policy(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    meta = await (await _buckets(ctx)).get(ctx.bucket)
    if meta.policy is None:
        raise NoSuchBucketPolicy()
    return Response(status=200, headers=[("Content-Type", "application/json")], body=meta.policy.encode())


async def handle_delete_bucket_policy(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await (await _buckets(ctx)).update(ctx.bucket, lambda meta: replace(meta, policy=None))
    return Response(status=204)


async def handle_get_bucket_policy_status(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    buckets = bucket_store(ctx)
    if buckets is None:
        await ctx.layer.get_bucket_info(ctx.bucket)
        policy = None
    else:
        policy = (await buckets.get(ctx.bucket)).policy
    if policy is None:                      # as AWS: no policy, no status
        raise NoSuchBucketPolicy()
    w = XmlWriter("PolicyStatus")
    w.elem("IsPublic", is_public(parsed_policy(policy)))
    return xml_response(w.finish())
