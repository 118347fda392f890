"""The object layer: S3 buckets, objects and versions over erasure sets (implements ``types.ObjectLayer``).

Which set a key lives in, and writing shards before a commit, is ``placement``'s job.

A PUT streams the body through the pipeline (MD5, and the object's own transform when it is encrypted)
into shard files in each drive's temporary area, then, under the key lock, re-reads the metadata, checks
preconditions and commits: data dirs are renamed into place and the new version list written atomically on
every drive, with a write quorum.
Readers take no lock: they read the metadata, then open every shard file before streaming, so a later
overwrite cannot tear a GET in progress.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

from storage_engine import errors
from storage_engine.cluster.config_store import ConfigStore, Notify
from storage_engine.config import BLOCK_SIZE, EngineSettings, default_parity, parse_storage_class
from storage_engine.crypto.kms import Kms
from storage_engine.crypto.packages import stored_size
from storage_engine.crypto.sse import ObjectKey, PartSpan, SseService
from storage_engine.drives import paths
from storage_engine.drives.base import Drive
from storage_engine.drives.format import load_pool
from storage_engine.drives.health import CheckedDrive, check_drives
from storage_engine.drives.local import LocalDrive
from storage_engine.malloc import configure_malloc
from storage_engine.erasure.locks import KeyLocker, NameLocker
from storage_engine.erasure.metadata import PartMeta, Version, find
from storage_engine.erasure.reader import VersionReader
from storage_engine.erasure.set import ErasureSet, MetaView, write_quorum
from storage_engine.iam.store import IamStore
from storage_engine.lifecycle.defaults import LifecycleDefaults
from storage_engine.lifecycle.registry import TierRegistry, declared_tiers
from storage_engine.lifecycle.rules import expiry_time
from storage_engine.lifecycle.transition import TierReader, Transitions
from storage_engine.objects import listing, names, object_lock, rewrap, versions
from storage_engine.objects.buckets import BucketMeta, BucketStore
from storage_engine.objects.object_lock import LockConfig, LockMode
from storage_engine.objects.healer import Healer
from storage_engine.objects.multipart import Multipart
from storage_engine.objects.placement import Placement, discard, write_data
from storage_engine.objects.lifecycle import Expirer
from storage_engine.objects.scanner import UsageScanner
from storage_engine.objects.transform import ReadTransform
from storage_engine.objects.types import (BucketInfo, CompletePart, DeleteResult, HealReport, ListObjectsResult,
                                          ListPartsResult, ListUploadsResult, ListVersionsResult, ObjectInfo,
                                          PartInfo, PutBody, PutOptions, RewrapReport, SseRequest, UploadInfo,
                                          VersioningStatus)
from storage_engine.topology import Pool, warm_pool_count

log = logging.getLogger(__name__)


class ObjectReaderImpl:
    """An open version; with a ``ReadTransform`` (encrypted), plaintext offsets map to stored packages."""

    __slots__ = ("info", "_reader", "_transform")

    def __init__(self, info: ObjectInfo, reader: VersionReader | TierReader,
                 transform: ReadTransform | None = None) -> None:
        self.info = info
        self._reader = reader
        self._transform = transform

    def stream(self, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if self._transform is None:
            return self._reader.stream(offset, length)  # type: ignore[return-value]  # bytes without views
        return _as_bytes(self._decoded(offset, length))

    def stream_views(self, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes | memoryview]:
        if self._transform is None:
            return self._reader.stream(offset, length, views=True)
        return self._decoded(offset, length)

    def _decoded(self, offset: int, length: int | None) -> AsyncIterator[bytes | memoryview]:
        assert self._transform is not None
        size = self.info.size
        offset = max(0, min(offset, size))
        length = size - offset if length is None else max(0, min(length, size - offset))
        stored_offset, stored_length = self._transform.stored_span(offset, length)
        # Views: the transform copies the stored bytes into its own buffers anyway.
        stored = self._reader.stream(stored_offset, stored_length, views=True)
        return self._transform.decode(stored, offset, length)

    async def close(self) -> None:
        self._reader.close()


async def _as_bytes(pieces: AsyncIterator[bytes | memoryview]) -> AsyncIterator[bytes]:
    async for piece in pieces:
        yield piece if isinstance(piece, bytes) else bytes(piece)


class ErasureObjectLayer:
    def __init__(self, pools: list[list[ErasureSet]], buckets: BucketStore, settings: EngineSettings,
                 kms: Kms | None = None, warm: Sequence[list[ErasureSet]] = ()) -> None:
        self.placement = Placement(pools)
        self.buckets = buckets
        self.settings = settings
        self.sse = SseService(settings, buckets.config, kms)
        self.iam = IamStore(buckets.config, self.sse, settings)
        self.tiers = TierRegistry(buckets.config, self.iam, declared_tiers(settings.tiers, warm))
        self.transitions = Transitions(self.placement, self.tiers, buckets.config)
        self.lifecycle_defaults = LifecycleDefaults(settings.lifecycle_defaults, buckets, self.tiers.names)
        self.multipart = Multipart(self.placement, buckets, self.sse)
        self.multipart.drop = self.transitions.drop
        self.healer = Healer(self.placement, buckets, self.multipart, settings.heal_interval_seconds)
        offset = settings.ilm_clock_offset_seconds
        self.scanner = UsageScanner(self.placement, buckets, buckets.config,
                                    interval=settings.scanner_interval_seconds, delay=settings.scanner_delay,
                                    expirer=Expirer(self.placement, self.multipart, self.transitions,
                                                    lambda: time.time() + offset))

    # --- placement (kept for callers that look inside) ------------------------------------------------
    @property
    def pools(self) -> list[list[ErasureSet]]:
        return self.placement.pools

    @property
    def all_sets(self) -> list[ErasureSet]:
        return self.placement.all_sets

    def sets_for(self, bucket: str, key: str) -> list[ErasureSet]:
        return self.placement.sets_for(bucket, key)

    # --- buckets ------------------------------------------------------------------------------------
    async def make_bucket(self, bucket: str, *, owner: str = "", owner_name: str = "", acl: bytes | None = None,
                          ownership: str = "", object_lock: bool = False) -> None:
        await self.buckets.create(bucket, owner=owner, owner_name=owner_name, acl=acl, ownership=ownership,
                                  object_lock=object_lock)
        await self.lifecycle_defaults.apply(bucket)

    async def delete_bucket(self, bucket: str) -> None:
        async with self.buckets.lock(bucket):
            await self.buckets.get(bucket)
            found = await self.list_object_versions(bucket, max_keys=1)
            if found.versions or found.prefixes:
                raise errors.BucketNotEmpty(resource=bucket)
            await self.multipart.abort_all(bucket)
            await self.buckets.remove(bucket)

    async def get_bucket_info(self, bucket: str) -> BucketInfo:
        meta = await self.buckets.get(bucket)
        return BucketInfo(meta.name, meta.created)

    async def list_buckets(self) -> list[BucketInfo]:
        return await self.buckets.list()

    async def get_bucket_versioning(self, bucket: str) -> VersioningStatus:
        return (await self.buckets.get(bucket)).versioning

    async def set_bucket_versioning(self, bucket: str, status: VersioningStatus) -> None:
        if status not in ("Enabled", "Suspended"):
            raise errors.IllegalVersioningConfigurationException()
        async with self.buckets.lock(bucket):
            meta = await self.buckets.get(bucket)
            if meta.object_lock is not None and status != "Enabled":
                raise errors.InvalidBucketState("An Object Lock configuration is present on this bucket, "
                                                "so the versioning state cannot be changed.")
            if meta.versioning != status:
                await self.buckets.put(dataclasses.replace(meta, versioning=status))

    async def get_object_lock_config(self, bucket: str) -> LockConfig | None:
        """The bucket's object lock configuration (None: object lock not enabled); NoSuchBucket."""
        return (await self.buckets.get(bucket)).object_lock

    async def put_object_lock_config(self, bucket: str, config: LockConfig) -> None:
        """Enable object lock (once on, never off) and set its default retention; a bucket without object lock
        needs versioning Enabled (InvalidBucketState)."""
        def change(meta: BucketMeta) -> BucketMeta:
            if meta.object_lock is None and meta.versioning != "Enabled":
                raise errors.InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
            return dataclasses.replace(meta, object_lock=config)
        await self.buckets.update(bucket, change)

    async def get_bucket_encryption(self, bucket: str) -> SseRequest | None:
        return (await self.buckets.get(bucket)).encryption

    async def put_bucket_encryption(self, bucket: str, sse: SseRequest | None) -> None:
        await self.buckets.put_encryption(bucket, sse)

    # --- objects ------------------------------------------------------------------------------------
    async def put_object(self, bucket: str, key: str, body: PutBody, opts: PutOptions) -> ObjectInfo:
        names.check_key(key)
        bucket_meta = await self.buckets.get(bucket)
        es = await self.placement.set_for_write(bucket, key)
        parity = self.placement.parity(es, opts.storage_class)
        k = es.n - parity
        distribution = es.distribution(key)
        # Encryption is set up (KMS data key) before a byte is stored: a failure stores nothing.
        request = self.sse.resolve(opts.sse, bucket_meta.encryption)
        sealed = await self.sse.seal_new(bucket, key, request) if request is not None else None
        transform = sealed.write_transform(1) if sealed is not None else None
        size_hint = opts.size if sealed is None or opts.size is None else stored_size(opts.size)
        lock_mode, lock_until, legal_hold = object_lock.new_version_lock(bucket_meta.object_lock, opts.lock,
                                                                        time.time())
        seen = await self._precheck(es, bucket, key, opts)
        stored = await write_data(es, k, parity, distribution, body, size_hint, self.settings.inline_threshold,
                                  transform)
        try:
            if opts.content_md5 is not None and opts.content_md5 != stored.md5:
                raise errors.BadDigest()
            checksums = body.checksums()
            now = time.time()
            etag = sealed.etag(stored.md5) if sealed is not None else stored.md5.hex()
            version = Version(
                version_id=versions.new_version_id(bucket_meta.versioning), data_id=uuid.uuid4().hex,
                mod_time=now, size=stored.size, etag=etag, metadata=dict(opts.metadata), tags=dict(opts.tags),
                storage_class=opts.storage_class, inline=stored.inline_shards is not None, data_blocks=k,
                parity_blocks=parity, block_size=BLOCK_SIZE, distribution=distribution,
                parts=[PartMeta(1, stored.size, stored.stored_size, etag, now)],
                checksums=dict(checksums), checksum_type="FULL_OBJECT" if checksums else None,
                sse=sealed.sse if sealed is not None else None, owner=opts.owner, acl=opts.acl,
                lock_mode=lock_mode, lock_until=lock_until, legal_hold=legal_hold)
            async with es.lock(bucket, key):
                view = await es.get_meta(bucket, key)
                versions.recheck_preconditions(view, opts, seen)
                new_list, removed = versions.apply_put(view.versions if view else [], version)
                object_lock.check_removable(removed)        # never overwrite a locked version in place
                done = await es.commit(bucket, key, view, new_list, new_version=version,
                                       inline_shards=stored.inline_shards, tmp_dirs=stored.tmp_dirs,
                                       quorum=write_quorum(k, parity))
        except BaseException:
            await discard(es, stored.tmp_dirs)
            raise
        if stored.tmp_dirs:
            await discard(es, {p: t for p, t in stored.tmp_dirs.items() if p not in done})
        await self.transitions.drop(es, bucket, key, removed)
        info = versions.to_info(bucket, key, version, True)
        return dataclasses.replace(info, sse=sealed.info()) if sealed is not None else info

    @staticmethod
    async def _precheck(es: ErasureSet, bucket: str, key: str, opts: PutOptions) -> tuple[str, str] | None:
        """Conditional writes: the conditions when the request starts (412 before a byte is stored) and
        what the key was then, for the recheck under the lock at the commit."""
        if not versions.has_preconditions(opts):
            return None
        view = await es.get_meta(bucket, key)
        versions.check_preconditions(view, opts)
        return versions.latest_identity(view)

    async def resolve_version(self, bucket: str, key: str,
                              version_id: str | None) -> tuple[ErasureSet, MetaView, Version]:
        names.check_key(key)
        if version_id is not None:
            names.check_version_id(version_id)
        es, view = await self.placement.locate(bucket, key)
        if view is None:
            await self.buckets.get(bucket)
            raise errors.NoSuchVersion() if version_id is not None else errors.NoSuchKey()
        if not view.consistent:
            self.healer.request(es, bucket, key)
        if version_id is None:
            version = view.versions[0]
            if version.delete_marker:
                raise errors.NoSuchKey(headers={"x-amz-delete-marker": "true",
                                                "x-amz-version-id": version.version_id})
            return es, view, version
        found = find(view.versions, version_id)
        if found is None:
            raise errors.NoSuchVersion()
        if found.delete_marker:
            raise errors.MethodNotAllowed(headers={"x-amz-delete-marker": "true", "x-amz-version-id": version_id})
        return es, view, found

    async def get_object(self, bucket: str, key: str, version_id: str | None = None, *,
                         customer_key: bytes | None = None) -> ObjectReaderImpl:
        for attempt in range(3):
            es, view, version = await self.resolve_version(bucket, key, version_id)
            info = versions.to_info(bucket, key, version, version is view.versions[0])
            # Keys first (SSE-C check, KMS decrypt): a failure opens no shard.
            opened = await self._open_key(bucket, key, version, customer_key)
            transform = None
            if opened is not None:
                transform = opened.read_transform([PartSpan(p.number, p.size, p.stored_size) for p in version.parts])
                info = dataclasses.replace(info, sse=opened.info())
            if version.tier is not None and not version.has_data:      # on its tier, with no restored copy
                return ObjectReaderImpl(info, await self.transitions.reader(version), transform)
            reader = await es.open_version(bucket, key, view, version,
                                           on_damage=lambda es=es: self.healer.request(es, bucket, key))
            if reader.readable() or attempt == 2:
                return ObjectReaderImpl(info, reader, transform)
            reader.close()                     # overwritten between reading metadata and opening: retry
        raise AssertionError("unreachable")

    async def get_object_info(self, bucket: str, key: str, version_id: str | None = None, *,
                              customer_key: bytes | None = None) -> ObjectInfo:
        _, view, version = await self.resolve_version(bucket, key, version_id)
        info = versions.to_info(bucket, key, version, version is view.versions[0])
        envelope = self.sse.envelope_of(version.sse, f"{bucket}/{key}")
        self.sse.check_customer_key(envelope, customer_key)
        if envelope is not None and envelope.mode == "C":
            # HEAD needs the right key (403 otherwise), as S3; KMS modes need no KMS round trip here.
            opened = await self.sse.open_key(envelope, bucket, key, customer_key)
            info = dataclasses.replace(info, sse=opened.info())
        return info

    async def _open_key(self, bucket: str, key: str, version: Version,
                        customer_key: bytes | None) -> ObjectKey | None:
        envelope = self.sse.envelope_of(version.sse, f"{bucket}/{key}")
        self.sse.check_customer_key(envelope, customer_key)
        if envelope is None:
            return None
        return await self.sse.open_key(envelope, bucket, key, customer_key)

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None, *,
                            owner: str = "", bypass_governance: bool = False) -> DeleteResult:
        names.check_key(key)
        if version_id is not None:
            names.check_version_id(version_id)
        bucket_meta = await self.buckets.get(bucket)
        es = await self.placement.set_for_write(bucket, key)
        async with es.lock(bucket, key):
            view = await es.get_meta(bucket, key)
            old = view.versions if view else []
            new_list, removed, result = versions.apply_delete(old, version_id, bucket_meta.versioning, time.time(),
                                                              owner)
            object_lock.check_removable(removed, bypass_governance=bypass_governance)
            if new_list == old:
                return result
            await es.commit(bucket, key, view, new_list)
        await self.transitions.drop(es, bucket, key, removed)
        return result

    async def _update_tags(self, bucket: str, key: str, version_id: str | None,
                           tags: dict[str, str]) -> ObjectInfo:
        return await self._update_version(bucket, key, version_id, lambda v: dataclasses.replace(v, tags=dict(tags)))

    async def put_object_acl(self, bucket: str, key: str, version_id: str | None, acl: bytes | None) -> ObjectInfo:
        """Replace a version's ACL (packed by api/acl.py; None = canned private)."""
        return await self._update_version(bucket, key, version_id, lambda v: dataclasses.replace(v, acl=acl))

    async def _update_version(self, bucket: str, key: str, version_id: str | None,
                              change: Callable[[Version], Version]) -> ObjectInfo:
        names.check_key(key)
        if version_id is not None:
            names.check_version_id(version_id)
        es, _ = await self.placement.locate(bucket, key)
        async with es.lock(bucket, key):
            view = await es.get_meta(bucket, key)
            if view is None:
                await self.buckets.get(bucket)
                raise errors.NoSuchVersion() if version_id else errors.NoSuchKey()
            target = view.versions[0] if version_id is None else find(view.versions, version_id)
            if target is None:
                raise errors.NoSuchVersion()
            if target.delete_marker:
                raise errors.MethodNotAllowed(headers={"x-amz-delete-marker": "true"})
            updated = change(target)
            new_list = [updated if v is target else v for v in view.versions]
            await es.commit(bucket, key, view, new_list)
        return versions.to_info(bucket, key, updated, updated is new_list[0])

    async def put_object_retention(self, bucket: str, key: str, version_id: str | None, mode: LockMode | None,
                                   until: float, *, bypass_governance: bool = False) -> ObjectInfo:
        """PutObjectRetention (mode None: remove it): InvalidRequest without object lock on the bucket,
        AccessDenied for a change the version's retention forbids (``object_lock.change_retention``)."""
        if (await self.buckets.get(bucket)).object_lock is None:
            raise errors.InvalidRequest(object_lock.NO_LOCK_CONFIG)
        return await self._update_version(bucket, key, version_id, lambda v: object_lock.change_retention(
            v, mode, until, bypass_governance=bypass_governance))

    async def put_object_legal_hold(self, bucket: str, key: str, version_id: str | None, on: bool) -> ObjectInfo:
        """PutObjectLegalHold: InvalidRequest without object lock on the bucket."""
        if (await self.buckets.get(bucket)).object_lock is None:
            raise errors.InvalidRequest(object_lock.NO_LOCK_CONFIG)
        return await self._update_version(bucket, key, version_id, lambda v: dataclasses.replace(v, legal_hold=on))

    async def put_object_tags(self, bucket: str, key: str, version_id: str | None,
                              tags: dict[str, str]) -> ObjectInfo:
        return await self._update_tags(bucket, key, version_id, tags)

    async def delete_object_tags(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo:
        return await self._update_tags(bucket, key, version_id, {})

    # --- listing ------------------------------------------------------------------------------------
    async def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", marker: str = "",
                           max_keys: int = 1000) -> ListObjectsResult:
        await self.buckets.get(bucket)
        return await listing.list_objects(self.all_sets, bucket, prefix, delimiter, marker, max_keys)

    async def list_object_versions(self, bucket: str, prefix: str = "", delimiter: str = "",
                                   key_marker: str = "", version_id_marker: str = "",
                                   max_keys: int = 1000) -> ListVersionsResult:
        await self.buckets.get(bucket)
        return await listing.list_versions(self.all_sets, bucket, prefix, delimiter, key_marker,
                                           version_id_marker, max_keys)

    # --- multipart ----------------------------------------------------------------------------------
    async def new_multipart_upload(self, bucket: str, key: str, opts: PutOptions) -> str:
        return await self.multipart.create(bucket, key, opts)

    async def put_object_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                              body: PutBody, opts: PutOptions) -> PartInfo:
        return await self.multipart.put_part(bucket, key, upload_id, part_number, body, opts)

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        return (await self.multipart.get(bucket, key, upload_id)).info()

    async def list_parts(self, bucket: str, key: str, upload_id: str, part_number_marker: int = 0,
                         max_parts: int = 1000) -> ListPartsResult:
        return await self.multipart.list_parts(bucket, key, upload_id, part_number_marker, max_parts)

    async def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                        parts: list[CompletePart], opts: PutOptions) -> ObjectInfo:
        return await self.multipart.complete(bucket, key, upload_id, parts, opts)

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.multipart.abort(bucket, key, upload_id)

    async def list_multipart_uploads(self, bucket: str, prefix: str = "", delimiter: str = "",
                                     key_marker: str = "", upload_id_marker: str = "",
                                     max_uploads: int = 1000) -> ListUploadsResult:
        return await self.multipart.list_uploads(bucket, prefix, delimiter, key_marker, upload_id_marker,
                                                 max_uploads)

    # --- healing, readiness and shutdown -------------------------------------------------------------
    async def ready(self) -> bool:
        """Every erasure set has a read and a write quorum of drives online (``api.app.SupportsReadiness``)."""
        return all(es.has_quorum() for es in self.all_sets)

    async def heal(self, bucket: str | None = None) -> HealReport:
        return await self.healer.heal(bucket)

    async def restore_object(self, bucket: str, key: str, version_id: str | None, days: int) -> bool:
        """RestoreObject: a copy of a transitioned version on the hot drives for ``days`` (counted as
        lifecycle days); True when one was there already (its time extended)."""
        _, _, version = await self.resolve_version(bucket, key, version_id)
        until = expiry_time(time.time() + self.settings.ilm_clock_offset_seconds, days)
        return await self.transitions.restore(bucket, key, version.version_id, until)

    async def versions_on_tier(self, tier: str) -> int:
        """How many versions, in every bucket, have their data on ``tier`` (their storage class names it)."""
        count = 0
        for info in await self.buckets.list():
            key_marker = version_marker = ""
            while True:
                page = await listing.list_versions(self.placement.all_sets, info.name, "", "", key_marker,
                                                   version_marker, 1000)
                count += sum(1 for v in page.versions if not v.delete_marker and v.storage_class == tier)
                if not page.is_truncated or page.next_key_marker is None:
                    break
                key_marker, version_marker = page.next_key_marker, page.next_version_id_marker or ""
        return count

    async def rewrap_keys(self, bucket: str | None = None) -> RewrapReport:
        """Data keys under their KMS keys' newest versions, data untouched (``objects/rewrap.py``)."""
        return await rewrap.rewrap_keys(self.placement, self.buckets, self.sse, bucket)

    async def close(self) -> None:
        await self.scanner.stop()
        await self.healer.stop()
        await self.tiers.close()
        await self.sse.close()
        await self.buckets.config.stop()
        drives = {id(d): d for es in self.all_sets for d in es.drives if d is not None}
        await asyncio.gather(*(d.close() for d in drives.values()), return_exceptions=True)


# --- startup ----------------------------------------------------------------------------------------
def storage_class_parities(settings: EngineSettings, set_size: int) -> tuple[int, int]:
    """(STANDARD, REDUCED_REDUNDANCY) parity for sets of ``set_size`` drives; ValueError when unsafe."""
    standard = parse_storage_class(settings.storage_class_standard)
    if standard is None:
        standard = default_parity(set_size)
    if standard > set_size // 2:
        raise ValueError(f"STANDARD storage class EC:{standard} needs parity <= {set_size // 2} "
                         f"for sets of {set_size} drives")
    rrs = parse_storage_class(settings.storage_class_rrs)
    # RRS never has more parity than STANDARD (the EC:1 default on a one-drive set becomes EC:0).
    rrs = standard if rrs is None else min(rrs, standard)
    return standard, rrs


def _local_drive(endpoint: str, settings: EngineSettings) -> LocalDrive:
    if "://" in endpoint:
        raise ValueError(f"{endpoint} is a remote drive: open it through cluster.node.Node")
    return LocalDrive(endpoint, group_commit=settings.group_commit)


def _lock_dir(members: Sequence[Drive | None]) -> str | None:
    for drive in members:
        if isinstance(drive, LocalDrive):
            return os.path.join(drive.sys_root, paths.LOCKS_DIR)
    return None


async def open_object_layer(pools: list[Pool], settings: EngineSettings, *,
                            drives: list[list[Drive]] | None = None, locker: NameLocker | None = None,
                            may_format: Callable[[int], bool] = lambda pool: True,
                            notify: Notify | None = None, kms: Kms | None = None) -> ErasureObjectLayer:
    """Check or format the drives of every pool, clean up after dead processes, and start healing.

    ``drives``: each pool's drives in endpoint order (local or remote); default: local directories.
    ``locker``: one lock service for every set (a cluster's); default: per-set file locks.
    ``may_format(pool)``: whether this process may format that pool when it is fresh.
    ``notify(kind, name)``: tells peers about config changes. ``kms``: the KMS to use instead of the one
    the settings open (``crypto.kms.open_kms``; closed with the layer). Raises ``FormatPending`` or
    ``FormatQuorumLost`` (nothing opened; wait and retry), ValueError for unusable topologies.
    """
    configure_malloc()
    if drives is None:
        drives = [[_local_drive(endpoint, settings) for endpoint in pool.drives] for pool in pools]
    parities = [storage_class_parities(settings, pool.set_size) for pool in pools]
    # Formats first, for every pool: waiting on one must leave nothing running behind.
    formats = []
    deployment: str | None = None
    for pool_index, pool in enumerate(pools):
        formatted = await load_pool(drives[pool_index], pool_index, pool.set_size, deployment,
                                    may_format_fresh=may_format(pool_index))
        deployment = formatted.deployment_id
        formats.append(formatted.formats)
    built: list[list[ErasureSet]] = []
    everything: list[Drive | None] = []
    replaced = False
    for pool_index, pool in enumerate(pools):
        standard, rrs = parities[pool_index]
        # Every slot gets a checked drive, usable or not: one that is offline or wiped comes in later.
        checked = await check_drives(drives[pool_index], formats[pool_index],
                                     timeout=settings.drive_timeout_seconds)
        sets = []
        for set_index in range(len(checked) // pool.set_size):
            members = checked[set_index * pool.set_size:(set_index + 1) * pool.set_size]
            set_locker = locker or KeyLocker(_lock_dir([d.inner for d in members if d.online]))
            sets.append(ErasureSet(pool_index, set_index, members, standard, rrs, set_locker))
        built.append(sets)
        everything.extend(checked)
        replaced = replaced or any(d.state == "healing" for d in checked)
    # The last pools are the warm tiers' (``topology.tier_pools``): opened like the others, never written by a PUT.
    hot = len(built) - warm_pool_count(settings)
    config = ConfigStore(built[0][0], reload_seconds=settings.config_reload_seconds, notify=notify)
    buckets = BucketStore(config, [d for es in (s for pool in built[:hot] for s in pool) for d in es.drives])
    await buckets.adopt_legacy()
    layer = ErasureObjectLayer(built[:hot], buckets, settings, kms, warm=built[hot:])
    await layer.sse.start()
    # Writes that miss drives are healed when those drives take writes again.
    layer.multipart.on_missed = layer.healer.missed_upload
    for es in layer.all_sets:
        es.on_missed = layer.healer.missed_object
    for drive in everything:
        if isinstance(drive, CheckedDrive):
            drive.on_return = layer.healer.drive_returned
    config.start()
    if settings.iam_bootstrap_file:  # the IAM store is up: apply the declared policies, groups and users
        await _apply_iam_bootstrap(layer.iam, settings.iam_bootstrap_file)
    try:
        await layer.lifecycle_defaults.apply_all()
    except (errors.InsufficientReadQuorum, errors.InsufficientWriteQuorum) as exc:
        log.error("lifecycle defaults not applied at start: %s", exc)
    layer.healer.start()
    layer.scanner.start()
    layer.tiers.check_declared()
    if replaced:
        layer.healer.schedule_full_heal()
    return layer


async def _apply_iam_bootstrap(iam: IamStore, path: str) -> None:
    """storage_engine.iam.bootstrap at every start; a conflict (a declared key another user holds) or an unreachable
    quorum is logged in one line and the engine serves on (the document was checked before the server started)."""
    from storage_engine.iam.bootstrap import apply_bootstrap_file

    try:
        await apply_bootstrap_file(iam, path)
    except Exception as exc:  # noqa: BLE001 - IamError, BootstrapError, quorum errors: reported, never fatal
        logging.getLogger(__name__).error("IAM bootstrap %s not applied: %s", path, exc)
