"""S3 versioning semantics over a key's version list (newest first), and ObjectInfo conversion.

- Unversioned ("" state): a PUT replaces the single ``null`` version; DELETE removes it.
- Enabled: a PUT adds a uuid version; DELETE adds a delete marker.
- Suspended: a PUT replaces the ``null`` version (other versions stay); DELETE replaces the ``null``
  version with a ``null`` delete marker.
- DELETE with a version id removes exactly that version, marker or not.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

from storage_engine import errors
from storage_engine.erasure.metadata import Version, find
from storage_engine.erasure.set import ErasureSet, MetaView
from storage_engine.objects.types import (NULL_VERSION, DeleteResult, ObjectInfo, PartInfo, PutOptions, SseInfo,
                                          SseMode, VersioningStatus)


def new_version_id(versioning: VersioningStatus) -> str:
    return str(uuid.uuid4()) if versioning == "Enabled" else NULL_VERSION


def apply_put(versions: list[Version], new: Version) -> tuple[list[Version], list[Version]]:
    """(new version list, versions removed). A null version replaces the old null version."""
    if new.version_id != NULL_VERSION:
        return [new, *versions], []
    removed = [v for v in versions if v.version_id == NULL_VERSION]
    return [new, *(v for v in versions if v.version_id != NULL_VERSION)], removed


def apply_delete(versions: list[Version], version_id: str | None, versioning: VersioningStatus,
                 now: float, owner: str = "") -> tuple[list[Version], list[Version], DeleteResult]:
    """(new version list, versions removed, the result to report); a new delete marker is ``owner``'s."""
    if version_id is not None:
        target = find(versions, version_id)
        if target is None:
            return versions, [], DeleteResult(version_id, False)
        return [v for v in versions if v is not target], [target], DeleteResult(version_id, target.delete_marker)
    if versioning == "Enabled":
        marker = Version(str(uuid.uuid4()), uuid.uuid4().hex, now, delete_marker=True, owner=owner)
        return [marker, *versions], [], DeleteResult(marker.version_id, True)
    removed = [v for v in versions if v.version_id == NULL_VERSION]
    kept = [v for v in versions if v.version_id != NULL_VERSION]
    if versioning == "Suspended":
        marker = Version(NULL_VERSION, uuid.uuid4().hex, now, delete_marker=True, owner=owner)
        return [marker, *kept], removed, DeleteResult(NULL_VERSION, True)
    return kept, removed, DeleteResult(None, False)


def sse_info(doc: dict[str, Any] | None) -> SseInfo | None:
    """What responses say about a stored envelope (no validation: reading it checks it fully)."""
    if doc is None:
        return None
    mode = doc.get("m")
    kid = doc.get("kid")
    ctx = doc.get("ctx")
    return SseInfo(cast(SseMode, mode) if mode in ("S3", "KMS", "C") else "S3",
                   kms_key_id=kid if isinstance(kid, str) else None,
                   context={str(k): str(v) for k, v in ctx.items()} if isinstance(ctx, dict) else {})


def to_info(bucket: str, key: str, v: Version, is_latest: bool) -> ObjectInfo:
    if v.delete_marker:
        return ObjectInfo(bucket, key, v.version_id, 0, "", v.mod_time, is_latest=is_latest, delete_marker=True,
                          owner=v.owner)
    parts = tuple(PartInfo(p.number, p.size, p.etag, p.mod_time, p.checksums) for p in v.parts) \
        if v.multipart else ()
    return ObjectInfo(bucket, key, v.version_id, v.size, v.etag, v.mod_time, metadata=v.metadata, tags=v.tags,
                      storage_class=v.storage_class, is_latest=is_latest, checksums=v.checksums,
                      checksum_type=v.checksum_type,  # type: ignore[arg-type]
                      parts=parts, sse=sse_info(v.sse), owner=v.owner, acl=v.acl,
                      restored_until=v.tier.restored_until if v.tier is not None else 0.0,
                      lock_mode=v.lock_mode, lock_until=v.lock_until, legal_hold=v.legal_hold)


def data_ids(removed: list[Version]) -> list[str]:
    """Data dirs to delete once ``removed`` is gone from the metadata."""
    return [v.data_id for v in removed if v.has_data]


# ``drop(es, bucket, key, removed)``: after a commit removed ``removed``, delete their data (local shards,
# and copies on tiers: ``lifecycle.transition.Transitions.drop``).
DropVersions = Callable[[ErasureSet, str, str, list[Version]], Awaitable[None]]


async def remove_local(es: ErasureSet, bucket: str, key: str, removed: list[Version]) -> None:
    await es.remove_data(bucket, key, data_ids(removed))


def has_preconditions(opts: PutOptions) -> bool:
    return opts.if_none_match_star or opts.if_none_match is not None or opts.if_match is not None


def check_preconditions(view: MetaView | None, opts: PutOptions) -> None:
    """If-None-Match (``*`` or an ETag) and If-Match, against the current latest version.

    Writes evaluate them twice: when the request starts (a failure is 412 PreconditionFailed, or 404 for
    If-Match of a missing key) and under the key lock at the commit (:func:`recheck_preconditions`)."""
    latest = view.versions[0] if view else None
    live = latest if latest is not None and not latest.delete_marker else None
    if opts.if_none_match_star and live is not None:
        raise errors.PreconditionFailed()
    if opts.if_none_match is not None and live is not None and _etag(opts.if_none_match) == live.etag:
        raise errors.PreconditionFailed()
    if opts.if_match is not None:
        if live is None:
            raise errors.NoSuchKey()
        wanted = _etag(opts.if_match)
        if wanted != "*" and wanted != live.etag:
            raise errors.PreconditionFailed()


def latest_identity(view: MetaView | None) -> tuple[str, str] | None:
    """What the key's latest version is (version and data ids): to tell whether it changed."""
    latest = view.versions[0] if view else None
    return (latest.version_id, latest.data_id) if latest is not None else None


def recheck_preconditions(view: MetaView | None, opts: PutOptions, seen: tuple[str, str] | None) -> None:
    """The conditions again under the key lock. When they held at the start (``seen`` is what the key was
    then) but a write or delete that finished meanwhile broke them: 409 ConditionalRequestConflict, as AWS
    answers a conflicting concurrent operation (the client retries and then gets the real answer)."""
    try:
        check_preconditions(view, opts)
    except (errors.PreconditionFailed, errors.NoSuchKey):
        if latest_identity(view) != seen:
            raise errors.ConditionalRequestConflict() from None
        raise


def _etag(value: str) -> str:
    return value.strip().removeprefix("W/").strip('"')
