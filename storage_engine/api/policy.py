"""Authorization: one decision point, taken after authentication and before any handler runs.

    await authorize(ctx, req)                                  every request (app.py)
    await authorize_action(ctx, req, action, bucket, key)      a second resource (CopyObject's source)
    checker = await Authorizer.create(ctx, req)                many decisions of one request (DeleteObjects)

The decision (docs/iam.md "The decision"), :func:`decide`, pure:

1. root: allow (the engine's admin endpoints are root-only whatever policies say);
2. an explicit Deny in an identity policy, the session policy or the bucket policy: deny;
3. allow when (an identity policy allows, or the bucket policy allows this principal (an STS session: or
   its role), or the caller owns the bucket (``BucketMeta.owner == principal.owner_id``), or an ACL grants
   it (``api/acl.py``)) and (there is no session policy, or it allows). Anonymous callers have no identity
   policies and own nothing;
4. PublicAccessBlock: with RestrictPublicBuckets, a public bucket policy allows no anonymous caller.

Handlers never decide access themselves. The root user pays nothing: it is checked first. Others pay one
bucket-record read (cached by the config store), their policies from the IAM store (parsed there once per
record version) and the bucket policy parsed once per text (``bucket_policy.parsed_policy``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from storage_engine.api.bucket_policy import is_public, parsed_policy
from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.public_access_block import NO_BLOCK, PublicAccessBlock, bucket_store, public_access_block
from storage_engine.api.request_conditions import Conditions, existing_tag_conditions, principal_variables, \
    request_conditions
from storage_engine.api.router import Endpoint
from storage_engine.errors import AccessDenied, NoSuchBucket, S3Error
from storage_engine.iam.actions import actions_for, copy_source_action, resource_arn
from storage_engine.iam.policy import Decision, Policy, Request, evaluate
from storage_engine.iam.principal import ACCOUNT_ID, Principal

__all__ = ["Authorizer", "Sources", "authorize", "authorize_action", "authorize_copy_source", "decide", "decision"]

# Engine administration is for the root user whatever policies say.
ROOT_ONLY = frozenset({Endpoint.AdminHeal, Endpoint.AdminKmsRewrap, Endpoint.AdminIlmRun, Endpoint.AdminTier})
# Managing who may access a bucket: never an anonymous caller, whatever a bucket policy or ACL grants.
NOT_ANONYMOUS = frozenset({Endpoint.PutBucketPolicy, Endpoint.DeleteBucketPolicy, Endpoint.GetBucketPolicy,
                           Endpoint.GetBucketPolicyStatus, Endpoint.PutPublicAccessBlock,
                           Endpoint.DeletePublicAccessBlock, Endpoint.GetPublicAccessBlock, Endpoint.CreateBucket,
                           Endpoint.DeleteBucket, Endpoint.ListBuckets})
# Handlers that decide themselves: per item (DeleteObjects: s3:DeleteObject on each key, a refused key is an
# <Error>), or once their document is read (its s3:object-lock-* condition keys; api/object_lock.py).
SELF_DECIDED = frozenset({Endpoint.DeleteObjects, Endpoint.PutObjectRetention, Endpoint.PutObjectLegalHold})
_EXISTING_TAG = "s3:existingobjecttag/"


@dataclass(frozen=True, slots=True)
class Sources:
    """Everything besides the request that a decision consults."""
    identity: Sequence[Policy] = ()            # the principal's identity policies
    session: Policy | None = None              # its session policy (service account, STS)
    bucket: Policy | None = None               # the bucket policy
    bucket_public: bool = False                # the bucket policy is public (bucket_policy.is_public)
    owner: str | None = None                   # the bucket owner's canonical ID; None: no bucket
    block: PublicAccessBlock = NO_BLOCK        # the bucket's PublicAccessBlock


def decision(principal: Principal, request: Request, sources: Sources) -> Decision:
    """"allow", "deny", or "none": nothing allowed it, but an ACL grant may (no Deny, the session policy allows)."""
    if principal.is_root:
        return "allow"
    anonymous = principal.is_anonymous
    identity = "none" if anonymous else evaluate(sources.identity, request)
    session = sources.session.evaluate(request) if sources.session is not None else "allow"
    bucket = "none" if sources.bucket is None else \
        evaluate([sources.bucket], request) if principal.kind != "sts" or not principal.role else \
        _either(sources.bucket, request, role_arn(principal))
    if "deny" in (identity, session, bucket) or session != "allow":
        return "deny"
    if bucket == "allow" and anonymous and sources.bucket_public and sources.block.restrict_public_buckets:
        bucket = "none"
    owner = not anonymous and sources.owner is not None and sources.owner == principal.owner_id
    return "allow" if identity == "allow" or bucket == "allow" or owner else "none"


def role_arn(principal: Principal) -> str:
    """The role an STS session assumed: bucket policies may name it instead of the session."""
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{principal.role}"


def _either(policy: Policy, request: Request, arn: str) -> Decision:
    """The bucket policy for a session: its statements naming the session or its role (a Deny of either wins)."""
    answers = (policy.evaluate(request), policy.evaluate(replace(request, principal=arn)))
    return "deny" if "deny" in answers else "allow" if "allow" in answers else "none"


def decide(principal: Principal, request: Request, sources: Sources, *, acl: bool = False) -> bool:
    """Whether ``principal`` may do ``request``; ``acl``: an ACL grants it."""
    answer = decision(principal, request, sources)
    return answer == "allow" or (answer == "none" and acl)


def _names_existing_tags(policies: Sequence[Policy | None]) -> bool:
    return any(c.key.lower().startswith(_EXISTING_TAG) for p in policies if p is not None
               for s in p.statements for c in s.conditions)


_acl_module: Any = None


async def _acl_allows(ctx: ReqCtx, action: str) -> bool:
    """``api.acl.acl_allows(ctx, action)`` (owner: acl), or False while it does not exist."""
    global _acl_module
    if _acl_module is None:
        try:
            _acl_module = importlib.import_module("storage_engine.api.acl")
        except ImportError:
            _acl_module = False
    function = getattr(_acl_module, "acl_allows", None) if _acl_module else None
    if function is None:
        return False
    result = function(ctx, action)
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


async def _principal_policies(ctx: ReqCtx, principal: Principal) -> tuple[Sequence[Policy], Policy | None]:
    """The principal's identity policies and session policy, from the IAM store (``ctx.layer.iam``)."""
    iam = getattr(ctx.layer, "iam", None)
    if iam is not None and hasattr(iam, "policies_for"):
        identity, session = await iam.policies_for(principal)
        return tuple(identity), session
    session = Policy.parse(principal.session_policy) if principal.session_policy else None
    return (), session


class Authorizer:
    """The decisions of one request: conditions and the principal's policies gathered once."""

    __slots__ = ("ctx", "principal", "conditions", "variables", "identity", "session", "_buckets")

    def __init__(self, ctx: ReqCtx, principal: Principal, conditions: Conditions,
                 identity: Sequence[Policy], session: Policy | None) -> None:
        self.ctx = ctx
        self.principal = principal
        self.conditions = conditions
        self.variables = principal_variables(principal)
        self.identity = identity
        self.session = session
        self._buckets: dict[str, tuple[Policy | None, bool, str | None, PublicAccessBlock]] = {}

    @classmethod
    async def create(cls, ctx: ReqCtx, req: VerifiedRequest) -> Authorizer:
        principal = req.principal
        if principal.is_root:                         # allowed everything: nothing to gather
            return cls(ctx, principal, {}, (), None)
        conditions = request_conditions(req.request, principal, ctx.settings.trusted_proxy_networks)
        identity, session = ((), None) if principal.is_anonymous else await _principal_policies(ctx, principal)
        return cls(ctx, principal, conditions, identity, session)

    async def _bucket(self, bucket: str) -> tuple[Policy | None, bool, str | None, PublicAccessBlock]:
        cached = self._buckets.get(bucket)
        if cached is not None:
            return cached
        found: tuple[Policy | None, bool, str | None, PublicAccessBlock] = (None, False, None, NO_BLOCK)
        store = bucket_store(self.ctx)
        if store is not None and bucket:
            try:
                meta = await store.get(bucket)
            except NoSuchBucket:
                pass                   # decided on identity policies; the handler then says NoSuchBucket
            else:
                policy = parsed_policy(meta.policy) if meta.policy else None
                found = (policy, policy is not None and _public(meta.policy), meta.owner,
                         public_access_block(meta))
        self._buckets[bucket] = found
        return found

    async def allowed(self, action: str, bucket: str, key: str = "", *, version_id: str | None = None,
                      conditions: Conditions | None = None) -> bool:
        """``conditions``: the ones only the handler knows, on top of the request's."""
        principal = self.principal
        if principal.is_root:
            return True
        policy, public, owner, block = await self._bucket(bucket)
        conditions = {**self.conditions, **conditions} if conditions else self.conditions
        if key and _names_existing_tags((*self.identity, self.session, policy)):
            conditions = {**conditions, **await self._existing_tags(bucket, key, version_id)}
        request = Request(action=action, resource=resource_arn(bucket, key),
                          principal=None if principal.is_anonymous else principal.arn,
                          conditions=conditions, variables=self.variables)
        answer = decision(principal, request, Sources(self.identity, self.session, policy, public, owner, block))
        if answer == "none":        # only an ACL grant can still allow: the ACL of that bucket / object
            ctx = self.ctx
            if (bucket, key) != (ctx.bucket, ctx.key):      # DeleteObjects' keys, a copy source
                query = {"versionId": version_id} if version_id else {}
                ctx = replace(ctx, bucket=bucket, key=key, query=query)
            return await _acl_allows(ctx, action)
        return answer == "allow"

    async def check(self, action: str, bucket: str, key: str = "", *, version_id: str | None = None,
                    conditions: Conditions | None = None) -> None:
        """AccessDenied unless allowed."""
        if not await self.allowed(action, bucket, key, version_id=version_id, conditions=conditions):
            raise AccessDenied()

    async def _existing_tags(self, bucket: str, key: str, version_id: str | None) -> Conditions:
        try:
            info = await self.ctx.layer.get_object_info(bucket, key, version_id)
        except S3Error:
            return {}
        return existing_tag_conditions(info.tags)


@lru_cache(maxsize=4096)
def _public(text: str) -> bool:
    return is_public(parsed_policy(text))


async def authorize(ctx: ReqCtx, req: VerifiedRequest) -> None:
    """Raise AccessDenied unless the request's principal may perform ``ctx.endpoint`` on ``ctx.bucket``/``key``."""
    principal = req.principal
    if principal.is_root:
        return
    endpoint = ctx.endpoint
    if endpoint in ROOT_ONLY or (principal.is_anonymous and endpoint in NOT_ANONYMOUS):
        raise AccessDenied()
    if endpoint in SELF_DECIDED:
        return
    actions = actions_for(endpoint, method=req.request.method, version_id=bool(ctx.query.get("versionId")))
    if not actions:
        return
    checker = await Authorizer.create(ctx, req)
    for action in actions:
        await checker.check(action, ctx.bucket, ctx.key, version_id=ctx.query.get("versionId") or None)


async def authorize_action(ctx: ReqCtx, req: VerifiedRequest, action: str, bucket: str, key: str = "",
                           *, version_id: str | None = None, conditions: Conditions | None = None) -> None:
    """A decision a handler makes (CopyObject / UploadPartCopy: the source; a lock document's condition
    keys); AccessDenied."""
    if req.principal.is_root:
        return
    await (await Authorizer.create(ctx, req)).check(action, bucket, key, version_id=version_id,
                                                    conditions=conditions)


async def authorize_copy_source(ctx: ReqCtx, req: VerifiedRequest, bucket: str, key: str,
                                version_id: str | None) -> None:
    """CopyObject / UploadPartCopy: the source needs s3:GetObject (s3:GetObjectVersion for a version)."""
    if req.principal.is_root:
        return
    await authorize_action(ctx, req, copy_source_action(version_id=bool(version_id)), bucket, key,
                           version_id=version_id)
