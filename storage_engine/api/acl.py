"""ACLs and owners (docs/iam.md "ACLs and owners"): canned ACLs, grants, the ``?acl`` handlers, and
:func:`acl_allows` for the authorization decision (``api/policy.py``).

Every bucket and object has an owner (a canonical ID, 64 hex digits): the bucket's is its creator
(``BucketMeta.owner``; "" in records older than IAM: the root user's), an object's the principal that wrote
it (``Version.owner``; "" = the bucket owner's, so a root-written version packs as before). An ACL is a list
of grants (grantee: a canonical ID or a group URI; permission READ, WRITE, READ_ACP, WRITE_ACP or
FULL_CONTROL), packed by :func:`pack_grants` into ``BucketMeta.acl`` / ``Version.acl``; None means the canned
``private`` ACL (the owner has FULL_CONTROL).

ObjectOwnership (``api/ownership.py``) decides whether ACLs count: ``BucketOwnerEnforced`` (what new buckets
get, as on AWS since April 2023) disables them: objects belong to the bucket owner, Get*Acl report the
owner's FULL_CONTROL, and a PUT carrying any ACL but the bucket owner's full control is refused with
AccessControlListNotSupported. ``BucketOwnerPreferred`` gives the bucket owner the objects written with
``bucket-owner-full-control``; ``ObjectWriter`` (and buckets without controls) keep the writer as owner.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import cast

import msgpack

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, version_headers, xml_response
from storage_engine.api.public_access_block import public_access_block
from storage_engine.api.xml import XmlNode, XmlWriter, escape, parse_xml
from storage_engine.errors import (
    AccessControlListNotSupported,
    AccessDenied,
    InvalidArgument,
    InvalidBucketAclWithObjectOwnership,
    InvalidRequest,
    MalformedACLError,
    MalformedXML,
    NotImplementedError_,
    S3Error,
    UnexpectedContent,
    UnresolvableGrantByEmailAddress,
)
from storage_engine.http.types import Response
from storage_engine.iam.principal import ROOT_DISPLAY_NAME
from storage_engine.objects.buckets import BucketMeta, BucketStore
from storage_engine.objects.types import ObjectInfo

__all__ = ["ALL_USERS", "AUTHENTICATED_USERS", "LOG_DELIVERY", "ENFORCED", "PREFERRED", "OBJECT_WRITER",
           "Grant", "Owner", "Owners", "acl_allows", "bucket_owner", "bucket_record", "canned_grants", "new_bucket_access",
           "new_object_access", "pack_grants", "unpack_grants"]

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY})
PUBLIC_GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS})
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
GRANT_HEADERS = {"x-amz-grant-full-control": "FULL_CONTROL", "x-amz-grant-write": "WRITE",
                 "x-amz-grant-write-acp": "WRITE_ACP", "x-amz-grant-read": "READ", "x-amz-grant-read-acp": "READ_ACP"}
CANNED = frozenset({"private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read",
                    "bucket-owner-full-control", "log-delivery-write"})
OWNER_FULL_CONTROL = "bucket-owner-full-control"

ENFORCED, PREFERRED, OBJECT_WRITER = "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"
OWNERSHIPS = (ENFORCED, PREFERRED, OBJECT_WRITER)

MAX_ACL_BODY = 64 * 1024
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_CANONICAL_ID = re.compile(r"[0-9a-f]{64}")
_HEADER_GRANTEE = re.compile(r'\s*([A-Za-z]+)\s*=\s*("([^"]*)"|[^,\s]*)\s*(,|$)')

# What each ACL permission allows (AWS's "Mapping of ACL permissions and access policy permissions").
BUCKET_ACTIONS = {"s3:ListBucket": "READ", "s3:ListBucketVersions": "READ", "s3:ListBucketMultipartUploads": "READ",
                  "s3:PutObject": "WRITE", "s3:DeleteObject": "WRITE",
                  "s3:GetBucketAcl": "READ_ACP", "s3:PutBucketAcl": "WRITE_ACP"}
OBJECT_ACTIONS = {"s3:GetObject": "READ", "s3:GetObjectVersion": "READ",
                  "s3:GetObjectAttributes": "READ", "s3:GetObjectVersionAttributes": "READ",
                  "s3:GetObjectAcl": "READ_ACP", "s3:GetObjectVersionAcl": "READ_ACP",
                  "s3:PutObjectAcl": "WRITE_ACP", "s3:PutObjectVersionAcl": "WRITE_ACP"}


@dataclass(frozen=True, slots=True)
class Owner:
    id: str                        # canonical ID
    name: str = ""                 # display name ("" when unknown: the XML then has none)


@dataclass(frozen=True, slots=True)
class Grant:
    grantee: str                   # a canonical ID or a group URI
    permission: str                # one of PERMISSIONS
    name: str = ""                 # a canonical user's display name, when known

    @property
    def is_group(self) -> bool:
        return self.grantee in GROUPS


def pack_grants(grants: Iterable[Grant]) -> bytes:
    return cast(bytes, msgpack.packb([[g.grantee, g.permission, g.name] for g in grants], use_bin_type=True))


def unpack_grants(data: bytes | None, owner: Owner) -> tuple[Grant, ...]:
    """The grants of a stored ACL; None (canned private) is the owner's FULL_CONTROL."""
    if data is None:
        return (Grant(owner.id, "FULL_CONTROL", owner.name),)
    try:
        return tuple(Grant(str(g[0]), str(g[1]), str(g[2])) for g in msgpack.unpackb(data, raw=False))
    except (ValueError, TypeError, IndexError, msgpack.ExtraData):
        return ()                  # damaged: grants nothing (the owners keep their access)


# --- owners -----------------------------------------------------------------------------------------------
def _caller(ctx: ReqCtx) -> Owner:
    return Owner(ctx.identity.owner_id, ctx.identity.display_name)


def _is_anonymous(ctx: ReqCtx) -> bool:
    return ctx.identity.is_anonymous


def root_owner_id(ctx: ReqCtx) -> str:
    return hashlib.sha256(ctx.settings.access_key.encode()).hexdigest()


def bucket_owner(ctx: ReqCtx, meta: BucketMeta) -> Owner:
    """The bucket's owner: its creator, or (records older than owners) the root user."""
    if meta.owner:
        return Owner(meta.owner, meta.owner_name)
    return Owner(root_owner_id(ctx), ROOT_DISPLAY_NAME)


def object_owner(ctx: ReqCtx, meta: BucketMeta, owner_id: str, names: Directory | None = None) -> Owner:
    """An object's owner: the bucket owner under BucketOwnerEnforced or when the version names none."""
    owner = bucket_owner(ctx, meta)
    if meta.ownership == ENFORCED or not owner_id or owner_id == owner.id:
        return owner
    directory = names if names is not None else Directory(ctx, meta)
    return Owner(owner_id, directory.known(owner_id) or "")


async def named_object_owner(ctx: ReqCtx, meta: BucketMeta, owner_id: str) -> Owner:
    """``object_owner`` with the display name of an IAM user too (one read of the IAM store)."""
    names = Directory(ctx, meta)
    if owner_id and names.known(owner_id) is None:
        await names.load()
    return object_owner(ctx, meta, owner_id, names)


class Directory:
    """Canonical IDs -> display names: the caller, the bucket owner and the root user at once; IAM users
    (``sha256("user/" + name)``, ``iam/principal.py``) from the IAM store, read once, when one is asked for."""

    __slots__ = ("_ctx", "_fixed", "_users")

    def __init__(self, ctx: ReqCtx, meta: BucketMeta) -> None:
        self._ctx = ctx
        owner = bucket_owner(ctx, meta)
        self._fixed = {root_owner_id(ctx): ROOT_DISPLAY_NAME, owner.id: owner.name}
        if not _is_anonymous(ctx):
            self._fixed[ctx.identity.owner_id] = ctx.identity.display_name
        self._users: dict[str, str] | None = None

    def known(self, canonical_id: str) -> str | None:
        """The display name, if it is known without asking the IAM store."""
        name = self._fixed.get(canonical_id)
        if name is None and self._users is not None:
            name = self._users.get(canonical_id)
        return name

    async def name(self, canonical_id: str) -> str | None:
        """The display name of the principal with this canonical ID; None when there is none."""
        name = self.known(canonical_id)
        if name is not None or not _CANONICAL_ID.fullmatch(canonical_id):
            return name
        await self.load()
        return self.known(canonical_id)

    async def load(self) -> None:
        if self._users is None:
            iam = self._ctx.iam
            users = await iam.list_users() if iam is not None else []
            self._users = {hashlib.sha256(f"user/{u.name}".encode()).hexdigest(): u.name for u in users}


async def bucket_record(ctx: ReqCtx, bucket: str | None = None) -> BucketMeta:
    """The bucket's record (NoSuchBucket). A layer without a bucket store (the API tests' fake) has no
    access settings: its buckets read as records without owner, ACL or ownership controls."""
    name = ctx.bucket if bucket is None else bucket
    store = getattr(ctx.layer, "buckets", None)
    if isinstance(store, BucketStore):
        return await store.get(name)
    info = await ctx.layer.get_bucket_info(name)
    return BucketMeta(name, info.created)


def bucket_store(ctx: ReqCtx) -> BucketStore:
    store = getattr(ctx.layer, "buckets", None)
    if not isinstance(store, BucketStore):
        raise NotImplementedError_("This storage layer keeps no bucket settings.")
    return store


def _public_acl_flags(meta: BucketMeta) -> tuple[bool, bool]:
    """(BlockPublicAcls, IgnorePublicAcls) of the bucket's PublicAccessBlock (api/public_access_block.py)."""
    block = public_access_block(meta)
    return block.block_public_acls, block.ignore_public_acls


# --- what a request asks for --------------------------------------------------------------------------------
def canned_grants(canned: str, owner: Owner, bucket: Owner, *, on_bucket: bool) -> tuple[Grant, ...]:
    """The grants of a canned ACL for a resource owned by ``owner`` in a bucket owned by ``bucket``."""
    grants = [Grant(owner.id, "FULL_CONTROL", owner.name)]
    if canned in ("public-read", "public-read-write"):
        grants.append(Grant(ALL_USERS, "READ"))
        if canned == "public-read-write":
            grants.append(Grant(ALL_USERS, "WRITE"))
    elif canned == "authenticated-read":
        grants.append(Grant(AUTHENTICATED_USERS, "READ"))
    elif canned == "log-delivery-write":
        grants += [Grant(LOG_DELIVERY, "WRITE"), Grant(LOG_DELIVERY, "READ_ACP")]
    elif canned in ("bucket-owner-read", OWNER_FULL_CONTROL) and not on_bucket and bucket.id != owner.id:
        grants.append(Grant(bucket.id, "READ" if canned == "bucket-owner-read" else "FULL_CONTROL", bucket.name))
    return tuple(grants)


def _canned_header(ctx: ReqCtx) -> str | None:
    canned = ctx.headers.get("x-amz-acl")
    if canned is None:
        return None
    canned = canned.strip()
    if canned not in CANNED:
        raise InvalidArgument(f"Invalid canned ACL: {canned!r}")
    return canned


async def _grantee(names: Directory, kind: str, value: str, permission: str) -> Grant:
    kind = kind.lower()
    if kind == "id":
        name = await names.name(value)
        if name is None:
            raise InvalidArgument("Invalid id")
        return Grant(value, permission, name)
    if kind == "uri":
        if value not in GROUPS:
            raise InvalidArgument("Invalid group uri")
        return Grant(value, permission)
    if kind == "emailaddress":
        raise UnresolvableGrantByEmailAddress()
    raise InvalidArgument(f"Argument format not recognized: {kind}")


async def _header_grants(ctx: ReqCtx, names: Directory) -> tuple[Grant, ...] | None:
    grants: list[Grant] = []
    present = False
    for header, permission in GRANT_HEADERS.items():
        value = ctx.headers.get(header)
        if value is None:
            continue
        present = True
        pos = 0
        while pos < len(value):
            match = _HEADER_GRANTEE.match(value, pos)
            if match is None or match.end() == pos:
                raise InvalidArgument(f"Invalid value of {header}")
            grantee = match.group(3) if match.group(3) is not None else match.group(2)
            grants.append(await _grantee(names, match.group(1), grantee, permission))
            pos = match.end()
    return tuple(grants) if present else None


async def _header_acl(ctx: ReqCtx, meta: BucketMeta, owner: Owner, *,
                      on_bucket: bool) -> tuple[str | None, tuple[Grant, ...]] | None:
    """The ACL the request's headers ask for: (canned name or None, grants); None: they ask for none."""
    canned = _canned_header(ctx)
    grants = await _header_grants(ctx, Directory(ctx, meta))
    if canned is not None and grants is not None:
        raise InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
    if canned is not None:
        return canned, canned_grants(canned, owner, bucket_owner(ctx, meta), on_bucket=on_bucket)
    if grants is not None:
        return None, grants
    return None


async def _body_grants(ctx: ReqCtx, meta: BucketMeta, owner: Owner, body: bytes) -> tuple[Grant, ...]:
    """The grants of an ``AccessControlPolicy`` document."""
    try:
        root = parse_xml(body, "AccessControlPolicy", MAX_ACL_BODY)
    except MalformedXML:
        raise MalformedACLError() from None
    names = Directory(ctx, meta)
    owner_node = root.find("Owner")
    if owner_node is not None:
        owner_id = (owner_node.findtext("ID") or "").strip()
        if owner_id and owner_id != owner.id:
            if await names.name(owner_id) is None:
                raise InvalidArgument("Invalid id")
            raise AccessDenied()
    acl = root.find("AccessControlList")
    if acl is None:
        raise MalformedACLError()
    return tuple([await _xml_grant(names, node) for node in acl.findall("Grant")])


async def _xml_grant(names: Directory, node: XmlNode) -> Grant:
    grantee, permission = node.find("Grantee"), (node.findtext("Permission") or "").strip()
    if grantee is None or permission not in PERMISSIONS:
        raise MalformedACLError()
    for tag, kind in (("ID", "id"), ("URI", "uri"), ("EmailAddress", "emailaddress")):
        value = grantee.findtext(tag)
        if value is not None:
            return await _grantee(names, kind, value.strip(), permission)
    raise MalformedACLError()


def _owner_full_control_only(grants: Sequence[Grant], owners: set[str]) -> bool:
    """Whether an ACL only gives FULL_CONTROL to the owners (what BucketOwnerEnforced accepts)."""
    return all(not g.is_group and g.grantee in owners and g.permission == "FULL_CONTROL" for g in grants)


def _is_public(grants: Iterable[Grant]) -> bool:
    return any(g.grantee in PUBLIC_GROUPS for g in grants)


# What BucketOwnerEnforced accepts: the owner's full control. ``private`` is accepted on objects too (AWS
# wants bucket-owner-full-control or nothing there): under BucketOwnerEnforced it means exactly the same
# ACL, and rclone and other older clients send ``x-amz-acl: private`` with every write by default.
ENFORCED_CANNED = frozenset({"private", OWNER_FULL_CONTROL})


def _check_new_acl(meta: BucketMeta, canned: str | None, grants: tuple[Grant, ...], owners: set[str]) -> None:
    """BucketOwnerEnforced: only the owner's full control; BlockPublicAcls: nothing public."""
    if meta.ownership == ENFORCED:
        if canned not in ENFORCED_CANNED and (canned is not None or not _owner_full_control_only(grants, owners)):
            raise AccessControlListNotSupported()
    if _public_acl_flags(meta)[0] and _is_public(grants):
        raise AccessDenied()


async def new_object_access(ctx: ReqCtx, meta: BucketMeta) -> tuple[str, bytes | None]:
    """The owner and packed ACL of a version this request writes (PutObject, CopyObject,
    CreateMultipartUpload), from its ``x-amz-acl`` / ``x-amz-grant-*`` headers and the bucket's ownership
    controls: ("" = the bucket owner, None = private)."""
    owner = bucket_owner(ctx, meta)
    writer = _caller(ctx) if not _is_anonymous(ctx) else owner
    requested = await _header_acl(ctx, meta, writer, on_bucket=False)
    if requested is None:
        return ("" if meta.ownership == ENFORCED or writer.id == owner.id else writer.id), None
    canned, grants = requested
    _check_new_acl(meta, canned, grants, {owner.id, writer.id})
    if meta.ownership == ENFORCED:
        return "", None
    if meta.ownership == PREFERRED and canned == OWNER_FULL_CONTROL:
        writer = owner
    return ("" if writer.id == owner.id else writer.id), (None if canned == "private" else pack_grants(grants))


async def marker_owner(ctx: ReqCtx) -> str:
    """The owner of a delete marker this request may create (DeleteObject, DeleteObjects): the caller, or
    "" (the bucket owner) for the bucket owner, anonymous callers and under BucketOwnerEnforced."""
    meta = await bucket_record(ctx)
    if meta.ownership == ENFORCED or _is_anonymous(ctx) or ctx.identity.owner_id == bucket_owner(ctx, meta).id:
        return ""
    return ctx.identity.owner_id


async def new_bucket_access(ctx: ReqCtx, ownership: str) -> bytes | None:
    """CreateBucket: the packed ACL of the new bucket (None = private), from the request's headers."""
    me = _caller(ctx)
    meta = BucketMeta(ctx.bucket, 0.0, owner=me.id, owner_name=me.name, ownership=ownership)
    requested = await _header_acl(ctx, meta, me, on_bucket=True)
    if requested is None:
        return None
    canned, grants = requested
    if ownership == ENFORCED and not (canned in ENFORCED_CANNED or
                                      (canned is None and _owner_full_control_only(grants, {me.id}))):
        raise InvalidBucketAclWithObjectOwnership()
    return None if canned in ENFORCED_CANNED else pack_grants(grants)


# --- the decision --------------------------------------------------------------------------------------------
def _grantee_matches(ctx: ReqCtx, grant: Grant, ignore_public: bool) -> bool:
    if grant.grantee == ALL_USERS:
        return not ignore_public
    if grant.grantee == AUTHENTICATED_USERS:
        return not ignore_public and not _is_anonymous(ctx)
    return not grant.is_group and not _is_anonymous(ctx) and grant.grantee == ctx.identity.owner_id


async def acl_allows(ctx: ReqCtx, action: str) -> bool:
    """Whether the ACLs of the request's bucket (or, for object actions, of the object version) allow
    ``action`` to the caller. Never under BucketOwnerEnforced; public grants not under IgnorePublicAcls.
    The owners' implicit rights (the bucket owner's, READ_ACP / WRITE_ACP of a resource's owner) count."""
    on_object = action in OBJECT_ACTIONS
    permission = OBJECT_ACTIONS.get(action) or BUCKET_ACTIONS.get(action)
    if permission is None or not ctx.bucket or (on_object and not ctx.key):
        return False
    try:
        meta = await bucket_record(ctx)
        if meta.ownership == ENFORCED:
            return False
        if on_object:
            info = await ctx.layer.get_object_info(ctx.bucket, ctx.key, ctx.query.get("versionId") or None)
            owner = object_owner(ctx, meta, info.owner)
            grants = unpack_grants(info.acl, owner)
        else:
            owner = bucket_owner(ctx, meta)
            grants = unpack_grants(meta.acl, owner)
    except S3Error:
        return False
    if permission in ("READ_ACP", "WRITE_ACP") and not _is_anonymous(ctx) and ctx.identity.owner_id == owner.id:
        return True
    ignore_public = _public_acl_flags(meta)[1]
    return any(g.permission in (permission, "FULL_CONTROL") and _grantee_matches(ctx, g, ignore_public)
               for g in grants)


# --- the XML ------------------------------------------------------------------------------------------------
def owner_xml(owner: Owner, tag: str = "Owner") -> str:
    """``<Owner><ID>..</ID><DisplayName>..</DisplayName></Owner>`` (no DisplayName when unknown)."""
    name = f"<DisplayName>{escape(owner.name)}</DisplayName>" if owner.name else ""
    return f"<{tag}><ID>{escape(owner.id)}</ID>{name}</{tag}>"


class Owners:
    """The owners of listed objects / uploads (``<Owner>`` fragments, one per distinct owner ID)."""

    __slots__ = ("_ctx", "_meta", "_names", "_xml")

    def __init__(self, ctx: ReqCtx, meta: BucketMeta) -> None:
        self._ctx, self._meta = ctx, meta
        self._names = Directory(ctx, meta)
        self._xml: dict[tuple[str, str], str] = {}

    async def load(self, owner_ids: Iterable[str]) -> Owners:
        """Look up the display names of these owners (IAM users: one read of the store, when needed)."""
        if any(i and self._names.known(i) is None for i in owner_ids):
            await self._names.load()
        return self

    def xml(self, owner_id: str, tag: str = "Owner") -> str:
        fragment = self._xml.get((owner_id, tag))
        if fragment is None:
            owner = object_owner(self._ctx, self._meta, owner_id, self._names)
            fragment = self._xml[(owner_id, tag)] = owner_xml(owner, tag)
        return fragment


def render_acl(owner: Owner, grants: Iterable[Grant]) -> bytes:
    w = XmlWriter("AccessControlPolicy")
    w.raw(owner_xml(owner))
    w.open("AccessControlList")
    for g in grants:
        if g.is_group:
            grantee = f'<Grantee xmlns:xsi="{XSI}" xsi:type="Group"><URI>{escape(g.grantee)}</URI></Grantee>'
        else:
            name = f"<DisplayName>{escape(g.name)}</DisplayName>" if g.name else ""
            grantee = (f'<Grantee xmlns:xsi="{XSI}" xsi:type="CanonicalUser"><ID>{escape(g.grantee)}</ID>'
                       f"{name}</Grantee>")
        w.raw(f"<Grant>{grantee}<Permission>{g.permission}</Permission></Grant>")
    w.close("AccessControlList")
    return w.finish()


# --- handlers -----------------------------------------------------------------------------------------------
async def _requested_acl(ctx: ReqCtx, req: VerifiedRequest, meta: BucketMeta, owner: Owner, *,
                         on_bucket: bool) -> tuple[str | None, tuple[Grant, ...]]:
    """Put*Acl: the ACL from the headers or the body (exactly one of them)."""
    body = await read_small_body(req.body, ctx.headers, MAX_ACL_BODY)
    from_headers = await _header_acl(ctx, meta, owner, on_bucket=on_bucket)
    if from_headers is not None:
        if body.strip():
            raise UnexpectedContent()
        return from_headers
    if not body.strip():
        raise MalformedACLError()
    return None, await _body_grants(ctx, meta, owner, body)


async def handle_get_bucket_acl(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    meta = await bucket_record(ctx)
    owner = bucket_owner(ctx, meta)
    grants = unpack_grants(None if meta.ownership == ENFORCED else meta.acl, owner)
    return xml_response(render_acl(owner, grants))


async def handle_put_bucket_acl(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    meta = await bucket_record(ctx)
    owner = bucket_owner(ctx, meta)
    canned, grants = await _requested_acl(ctx, req, meta, owner, on_bucket=True)
    _check_new_acl(meta, canned, grants, {owner.id})
    if meta.ownership == ENFORCED:
        return Response(status=200)             # the owner's full control: what it already has
    packed = None if canned == "private" else pack_grants(grants)
    await bucket_store(ctx).update(ctx.bucket, lambda current: replace(current, acl=packed))
    return Response(status=200)


async def _object(ctx: ReqCtx) -> ObjectInfo:
    return await ctx.layer.get_object_info(ctx.bucket, ctx.key, _version_id(ctx))


def _version_id(ctx: ReqCtx) -> str | None:
    version_id = ctx.query.get("versionId")
    if version_id == "":
        raise InvalidArgument("Version id cannot be the empty string")
    return version_id


async def handle_get_object_acl(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    meta = await bucket_record(ctx)
    info = await _object(ctx)
    owner = await named_object_owner(ctx, meta, info.owner)
    grants = unpack_grants(None if meta.ownership == ENFORCED else info.acl, owner)
    return xml_response(render_acl(owner, grants), headers=version_headers(info.version_id))


async def handle_put_object_acl(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    meta = await bucket_record(ctx)
    info = await _object(ctx)
    owner = await named_object_owner(ctx, meta, info.owner)
    canned, grants = await _requested_acl(ctx, req, meta, owner, on_bucket=False)
    if canned is not None:     # canned ACLs of an existing object: relative to its owner
        grants = canned_grants(canned, owner, bucket_owner(ctx, meta), on_bucket=False)
    _check_new_acl(meta, canned, grants, {owner.id, bucket_owner(ctx, meta).id})
    if meta.ownership == ENFORCED:
        return Response(status=200, headers=version_headers(info.version_id))
    packed = None if canned == "private" else pack_grants(grants)
    updated = await ctx.layer.put_object_acl(ctx.bucket, ctx.key, _version_id(ctx), packed)
    return Response(status=200, headers=version_headers(updated.version_id))
