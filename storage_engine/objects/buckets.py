"""Buckets: a directory on every drive, plus a ``bucket`` record in the config store (created, versioning).

Its CORS rules and tag set live there too (``cors``, ``tags``; absent when unset). A bucket's default encryption lives in the same record (``"encryption": {"m": "S3" | "KMS", "kid": str |
None}``; docs/encryption.md): read with the bucket on every PUT at no extra cost, and removed with it.

The record says whether the bucket exists; the directories hold its objects. Bucket state is read on
every request: the config store keeps it cached, revalidated by one ``stat`` on a local drive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, AsyncContextManager, cast

import msgpack

from storage_engine.cluster.config_store import ConfigStore
from storage_engine.drives import paths
from storage_engine.drives.base import Drive, DriveError
from storage_engine.errors import (BucketAlreadyOwnedByYou, InsufficientWriteQuorum, InternalError, InvalidArgument,
                                   NoSuchBucket)
from storage_engine.objects import names
from storage_engine.objects.object_lock import LockConfig
from storage_engine.objects.types import BucketInfo, SseRequest, VersioningStatus

log = logging.getLogger(__name__)

BUCKET_KIND = "bucket"
# Before the config store, a bucket's metadata was a file on every drive: ``.rustfs.sys/buckets/<name>.meta``.
LEGACY_SUFFIX = ".meta"


@dataclass(frozen=True, slots=True)
class BucketMeta:
    name: str
    created: float
    versioning: VersioningStatus = ""
    encryption: SseRequest | None = None           # default encryption of new objects: SSE-S3 or SSE-KMS
    # Access (docs/iam.md). Each is kept as the API's own canonical form, interpreted by its owner module.
    owner: str = ""                                 # the owner's canonical ID ("" = the root user: older records)
    owner_name: str = ""                            # and display name
    policy: str | None = None                       # bucket policy, canonical JSON (iam.policy.Policy.to_json)
    public_access_block: tuple[bool, bool, bool, bool] | None = None   # BlockPublicAcls, IgnorePublicAcls,
    #                                                 BlockPublicPolicy, RestrictPublicBuckets
    acl: bytes | None = None                        # the bucket ACL, packed by api/acl.py (None = canned private)
    ownership: str = ""                             # ObjectOwnership: "" (none set), BucketOwnerEnforced, ...
    lifecycle: bytes | None = None                  # the lifecycle document, canonical (lifecycle.rules.document)
    lifecycle_default: bytes | None = None          # the settings' default last put here (lifecycle/defaults.py)
    cors: bytes | None = None                       # the CORS document, canonical (api/cors.py)
    tags: tuple[tuple[str, str], ...] = ()          # the bucket's tag set (api/bucket_tagging.py)
    object_lock: LockConfig | None = None           # object lock enabled, with its default retention (None: off)

    def pack(self) -> bytes:
        doc: dict[str, Any] = {"name": self.name, "created": self.created, "versioning": self.versioning}
        if self.encryption is not None:
            doc["encryption"] = _pack_encryption(self.encryption)
        for field, value in (("owner", self.owner), ("owner_name", self.owner_name), ("policy", self.policy),
                             ("pab", list(self.public_access_block) if self.public_access_block else None),
                             ("acl", self.acl), ("ownership", self.ownership), ("lifecycle", self.lifecycle),
                             ("lifecycle_default", self.lifecycle_default)):
            if value:                               # absent when unset: older engines read the same bytes
                doc[field] = value
        if self.cors:
            doc["cors"] = self.cors
        if self.tags:
            doc["tags"] = [list(pair) for pair in self.tags]
        if self.object_lock is not None:
            doc["lock"] = self.object_lock.pack()
        return cast(bytes, msgpack.packb(doc))

    @classmethod
    def unpack(cls, data: bytes) -> BucketMeta:
        doc = msgpack.unpackb(data)
        encryption = doc.get("encryption")
        pab = doc.get("pab")
        return cls(str(doc["name"]), float(doc["created"]), doc.get("versioning", ""),
                   _unpack_encryption(encryption) if encryption is not None else None,
                   owner=str(doc.get("owner", "")), owner_name=str(doc.get("owner_name", "")),
                   policy=doc.get("policy"),
                   public_access_block=cast(tuple[bool, bool, bool, bool], tuple(bool(v) for v in pab))
                   if pab and len(pab) == 4 else None,
                   acl=doc.get("acl"), ownership=str(doc.get("ownership", "")), lifecycle=doc.get("lifecycle"),
                   lifecycle_default=doc.get("lifecycle_default"), cors=doc.get("cors"),
                   tags=tuple((str(k), str(v)) for k, v in doc.get("tags", ())),
                   object_lock=LockConfig.unpack(doc["lock"]) if "lock" in doc else None)


def _pack_encryption(sse: SseRequest) -> dict[str, Any]:
    if sse.mode not in ("S3", "KMS"):
        raise InvalidArgument("A bucket's default encryption is SSE-S3 (AES256) or SSE-KMS (aws:kms).")
    return {"m": sse.mode, "kid": sse.kms_key_id if sse.mode == "KMS" else None}


def _unpack_encryption(doc: Any) -> SseRequest:
    mode = doc.get("m") if isinstance(doc, dict) else None
    kid = doc.get("kid") if isinstance(doc, dict) else None
    if mode not in ("S3", "KMS") or not (kid is None or isinstance(kid, str)):
        # Never "no default" for a damaged one: new objects would be stored in plaintext.
        log.error("damaged default encryption in a bucket record: %r", doc)
        raise InternalError()
    return SseRequest(mode, kms_key_id=kid)


class BucketStore:
    def __init__(self, config: ConfigStore, drives: Sequence[Drive | None]) -> None:
        self.config = config
        self._drives = [d for d in drives if d is not None]       # every drive of every pool
        self._write_quorum = len(drives) // 2 + 1
        self._unpacked: dict[str, tuple[bytes, BucketMeta]] = {}   # by name: the record and its meta

    async def get(self, name: str) -> BucketMeta:
        """The bucket's metadata; NoSuchBucket (also for names that cannot be buckets)."""
        if not names.is_valid_bucket(name):
            raise NoSuchBucket(resource=name)
        data = await self.config.get(BUCKET_KIND, name)
        if data is None:
            raise NoSuchBucket(resource=name)
        meta = self._unpacked.get(name)
        if meta is None or meta[0] is not data:
            # The config store hands out the same bytes while its copy is fresh: a request looks its
            # bucket up several times, and unpacking the record each time cost more than the lookup.
            meta = self._unpacked[name] = (data, BucketMeta.unpack(data))
        return meta[1]

    async def exists(self, name: str) -> bool:
        try:
            await self.get(name)
        except NoSuchBucket:
            return False
        return True

    async def create(self, name: str, *, owner: str = "", owner_name: str = "", acl: bytes | None = None,
                     ownership: str = "", object_lock: bool = False) -> None:
        """A new bucket, with its owner (canonical ID and display name), ACL and ObjectOwnership; with
        ``object_lock``, object lock enabled (and versioning with it)."""
        names.check_bucket(name)
        async with self.lock(name):
            if await self.exists(name):
                raise BucketAlreadyOwnedByYou(resource=name)
            await self._on_quorum(lambda drive: drive.make_volume(name))
            try:
                await self.config.put(BUCKET_KIND, name, BucketMeta(
                    name, time.time(), versioning="Enabled" if object_lock else "", owner=owner,
                    owner_name=owner_name, acl=acl, ownership=ownership,
                    object_lock=LockConfig() if object_lock else None).pack())
            except BaseException:
                await self._remove_dirs(name)
                raise

    async def put(self, meta: BucketMeta) -> None:
        """Replace a bucket's metadata (the caller holds ``lock(name)``)."""
        await self.config.put(BUCKET_KIND, meta.name, meta.pack())

    async def remove(self, name: str) -> None:
        """Forget the bucket and delete its (empty) directories (the caller checked it is empty)."""
        await self.config.delete(BUCKET_KIND, name)
        self._unpacked.pop(name, None)
        await self._remove_dirs(name)

    async def put_encryption(self, name: str, sse: SseRequest | None) -> None:
        """Set (or with None remove) the bucket's default encryption; NoSuchBucket."""
        if sse is not None:
            _pack_encryption(sse)                       # InvalidArgument before anything is locked
            sse = SseRequest(sse.mode, kms_key_id=sse.kms_key_id if sse.mode == "KMS" else None)
        await self.update(name, lambda meta: replace(meta, encryption=sse))

    async def update(self, name: str, change: Callable[[BucketMeta], BucketMeta]) -> BucketMeta:
        """Read-modify-write the bucket's record under its lock (written only if ``change`` changed it);
        NoSuchBucket. Returns the record as it now is."""
        async with self.lock(name):
            meta = await self.get(name)
            new = change(meta)
            if new != meta:
                await self.put(new)
            return new

    def lock(self, name: str) -> AsyncContextManager[None]:
        return self.config.lock(BUCKET_KIND, name)

    async def list(self) -> list[BucketInfo]:
        out = []
        for name in await self.config.names(BUCKET_KIND):
            try:
                meta = await self.get(name)
            except NoSuchBucket:
                continue                   # removed since
            out.append(BucketInfo(meta.name, meta.created))
        return out

    async def _on_quorum(self, op: Callable[[Drive], Awaitable[None]]) -> None:
        results = await asyncio.gather(*(op(d) for d in self._drives), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, DriveError):
                raise r
        if sum(not isinstance(r, BaseException) for r in results) < self._write_quorum:
            raise InsufficientWriteQuorum()

    async def _remove_dirs(self, name: str) -> None:
        async def remove(drive: Drive) -> None:
            try:
                await drive.delete(name, "", recursive=True)
            except DriveError:
                pass
        await asyncio.gather(*(remove(d) for d in self._drives))

    async def adopt_legacy(self) -> None:
        """Turn buckets recorded the old way (a ``.meta`` file per drive) into config records, once.

        A bucket is adopted when at least half of the drives hold the same file; the old files go only
        after its record is written, so a crash here leaves the bucket findable either way."""
        listings = await asyncio.gather(*(d.list_dir(paths.SYS_VOLUME, paths.BUCKETS_DIR) for d in self._drives),
                                        return_exceptions=True)
        found = {n[:-len(LEGACY_SUFFIX)] for names_ in listings if isinstance(names_, list)
                 for n in names_ if n.endswith(LEGACY_SUFFIX)}
        for name in sorted(found):
            path = f"{paths.BUCKETS_DIR}/{name}{LEGACY_SUFFIX}"
            copies = await asyncio.gather(*(d.read_file(paths.SYS_VOLUME, path) for d in self._drives),
                                          return_exceptions=True)
            counted = Counter(c for c in copies if isinstance(c, bytes))
            if not counted or 2 * counted.most_common(1)[0][1] < len(self._drives):
                log.warning("bucket %s: too few drives hold its old metadata to adopt it; left as it is", name)
                continue
            data = counted.most_common(1)[0][0]
            BucketMeta.unpack(data)                      # refuse garbage before it becomes a record
            if await self.config.get(BUCKET_KIND, name) is None:
                await self.config.put(BUCKET_KIND, name, data)
                log.info("bucket %s: metadata moved into the cluster-wide config store", name)
            await asyncio.gather(*(d.delete(paths.SYS_VOLUME, path) for d in self._drives),
                                 return_exceptions=True)

