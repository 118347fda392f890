"""Multipart uploads, kept in the set the final object goes to so that completing is a local commit.

::

    .rustfs.sys/multipart/<sha256(bucket/key)[:32]>/<upload-id>/upload.meta        the upload (msgpack)
    .rustfs.sys/multipart/<...>/<upload-id>/part.N.meta                           part N's record
    .rustfs.sys/multipart/<...>/<upload-id>/part.N.<uuid>/part                    part N's shard

Parts are erasure-coded like objects. An encrypted upload keeps its envelope (sealed object key, wrapped
data key) in ``upload.meta`` from the start; each part is its own package stream under its part key. Re-uploading a part writes a new data dir and replaces the record
atomically, so concurrent uploads of one part number leave one complete part. Completing hard-links
the chosen parts into a new data dir and commits it like a PUT; the upload dir goes only after the
commit, so a crash mid-way leaves the upload intact and retryable.

A completed upload leaves a small record beside the upload dirs (``<upload-id>.done``: the parts it was
completed with and the result) for ``COMPLETED_RETENTION`` seconds: a retried CompleteMultipartUpload
(clients retry when the first response was lost) naming the same parts gets the same answer, ETag
included, as on AWS, instead of NoSuchUpload. Completing the key again and the upload scans remove
expired records.

A record or part that reaches its write quorum but not every drive is reported (``on_missed``), and
``heal_upload`` writes the quorum's records and rebuilds part shard files on the drives that lack them.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import itertools
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import crc32c
import msgpack
from awscrt import checksums as crt

from storage_engine import errors
from storage_engine.config import BLOCK_SIZE
from storage_engine.crypto.packages import stored_size
from storage_engine.crypto.sse import SseService
from storage_engine.drives import paths
from storage_engine.drives.base import Drive, DriveError, FileNotFound
from storage_engine.erasure.bitrot import ShardLayout
from storage_engine.erasure.codec import get_codec
from storage_engine.erasure.heal import ObjectHealResult, heal_shard_file, install_shards, takes_writes
from storage_engine.erasure.metadata import PartMeta, Version
from storage_engine.erasure.set import ErasureSet, write_quorum
from storage_engine.objects import names, object_lock, versions
from storage_engine.objects.buckets import BucketStore
from storage_engine.objects.object_lock import LockRequest
from storage_engine.objects.placement import Placement, discard, write_data
from storage_engine.objects.types import (ChecksumAlgorithm, ChecksumType, CompletePart, ListPartsResult,
                                          ListUploadsResult, ObjectInfo, PartInfo, PutBody, PutOptions, UploadInfo)

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
# How long a completed upload's record answers retried CompleteMultipartUploads (AWS documents no figure;
# client retries come within minutes, an hour leaves room for long back-offs).
COMPLETED_RETENTION = 3600.0
DONE_SUFFIX = ".done"


@dataclass(slots=True)
class UploadMeta:
    bucket: str
    key: str
    upload_id: str
    initiated: float
    storage_class: str
    data_blocks: int
    parity_blocks: int
    distribution: list[int]
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    # The upload's encryption envelope (``crypto.envelope.Envelope.pack()``, as ``Version.sse``); None: plaintext.
    # Records written before encryption have no such field and unpack as plaintext uploads.
    sse: dict[str, Any] | None = None
    # The initiator (the new version's owner) and the ACL it asked for (docs/iam.md "ACLs and owners");
    # trailing fields, present only when set, so older records unpack unchanged.
    owner: str = ""
    acl: bytes | None = None
    # The object lock headers of CreateMultipartUpload (``[mode, until, legal hold]``), applied at completion;
    # trailing, present only when given.
    lock: list[Any] | None = None

    def pack(self) -> bytes:
        fields: list[Any] = [self.bucket, self.key, self.upload_id, self.initiated, self.storage_class,
                             self.data_blocks, self.parity_blocks, self.distribution, self.metadata, self.tags,
                             self.checksum_algorithm, self.checksum_type]
        if self.sse is not None or self.owner or self.acl is not None or self.lock is not None:
            fields.append(self.sse)
        if self.owner or self.acl is not None or self.lock is not None:
            fields.extend([self.owner, self.acl])
        if self.lock is not None:
            fields.append(self.lock)
        return cast(bytes, msgpack.packb(fields, use_bin_type=True))

    @classmethod
    def unpack(cls, data: bytes) -> UploadMeta:
        try:
            return cls(*msgpack.unpackb(data, raw=False))
        except (ValueError, TypeError) as exc:
            raise errors.InternalError("damaged upload metadata") from exc

    def lock_request(self) -> LockRequest | None:
        if self.lock is None:
            return None
        mode, until, hold = self.lock
        return LockRequest(mode if mode in object_lock.MODES else None, float(until),
                           None if hold is None else bool(hold))

    def info(self) -> UploadInfo:
        return UploadInfo(self.key, self.upload_id, self.initiated, self.storage_class,
                          cast(ChecksumAlgorithm | None, self.checksum_algorithm),
                          cast(ChecksumType | None, self.checksum_type), dict(self.metadata),
                          versions.sse_info(self.sse), owner=self.owner, lock_requested=self.lock is not None)


@dataclass(slots=True)
class PartRecord:
    number: int
    size: int
    stored_size: int
    etag: str
    mod_time: float
    checksums: dict[str, str]
    data: str                          # name of the part's data dir inside the upload dir

    def pack(self) -> bytes:
        return cast(bytes, msgpack.packb([self.number, self.size, self.stored_size, self.etag, self.mod_time,
                              self.checksums, self.data]))

    @classmethod
    def unpack(cls, data: bytes) -> PartRecord:
        try:
            return cls(*msgpack.unpackb(data))
        except (ValueError, TypeError) as exc:
            raise errors.InternalError("damaged part metadata") from exc

    def info(self) -> PartInfo:
        return PartInfo(self.number, self.size, self.etag, self.mod_time, dict(self.checksums))


@dataclass(frozen=True, slots=True)
class UploadRef:
    """An upload in progress; with ``part``, one part of it (None: its record and every part)."""

    bucket: str
    key: str
    upload_id: str
    part: int | None = None


# Told of a write that reached its quorum but not every drive: (set, what, drive positions missed).
MissedPart = Callable[[ErasureSet, UploadRef, list[int]], None]


def upload_dir(bucket: str, key: str, upload_id: str) -> str:
    digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:32]
    return f"{paths.MULTIPART_DIR}/{digest}/{upload_id}"


@dataclass(slots=True)
class CompletedUpload:
    """What a completed upload answered, kept for retries of its CompleteMultipartUpload."""

    bucket: str
    key: str
    completed: float
    parts: list[tuple[int, str]]        # (number, etag) as the completion named them
    version_id: str
    size: int
    etag: str
    checksums: dict[str, str]
    checksum_type: str | None
    sse: dict[str, Any] | None

    def pack(self) -> bytes:
        return cast(bytes, msgpack.packb([self.bucket, self.key, self.completed, [list(p) for p in self.parts],
                                          self.version_id, self.size, self.etag, self.checksums,
                                          self.checksum_type, self.sse], use_bin_type=True))

    @classmethod
    def unpack(cls, data: bytes) -> CompletedUpload | None:
        try:
            record = cls(*msgpack.unpackb(data, raw=False))
        except (ValueError, TypeError):
            return None
        record.parts = [(int(n), str(e)) for n, e in record.parts]
        return record

    def answers(self, bucket: str, key: str, parts: list[CompletePart], now: float) -> bool:
        """A retry of this completion: same object, same parts named, within the retention."""
        return (self.bucket, self.key) == (bucket, key) and _named(parts) == self.parts \
            and now - self.completed < COMPLETED_RETENTION

    def info(self) -> ObjectInfo:
        return ObjectInfo(self.bucket, self.key, self.version_id, self.size, self.etag, self.completed,
                          checksums=dict(self.checksums), checksum_type=cast(ChecksumType | None, self.checksum_type),
                          sse=versions.sse_info(self.sse))


def _quorum_bytes(es: ErasureSet, results: list[bytes | DriveError]) -> bytes | None:
    """The value most drives hold if enough do; None when absent; raises when unknowable."""
    found = Counter(r for r in results if isinstance(r, bytes))
    missing = sum(isinstance(r, FileNotFound) for r in results)
    if found:
        data, count = found.most_common(1)[0]
        if count >= es.default_k:
            return data
    if missing >= es.n - write_quorum(es.default_k, es.standard_parity) + 1:
        return None
    raise errors.InsufficientReadQuorum()


class Multipart:
    def __init__(self, placement: Placement, buckets: BucketStore, sse: SseService) -> None:
        self.placement = placement
        self.buckets = buckets
        self.sse = sse
        self.on_missed: MissedPart | None = None
        # Deletes removed versions' data (local shards, tier copies); set by the layer.
        self.drop: versions.DropVersions = versions.remove_local

    # --- lookups ------------------------------------------------------------------------------------
    async def _read_upload(self, es: ErasureSet, bucket: str, key: str, upload_id: str) -> UploadMeta | None:
        raw = await es.read_raw(paths.SYS_VOLUME, f"{upload_dir(bucket, key, upload_id)}/upload.meta")
        data = _quorum_bytes(es, raw)
        return UploadMeta.unpack(data) if data is not None else None

    async def find(self, bucket: str, key: str, upload_id: str) -> tuple[ErasureSet, UploadMeta]:
        names.check_key(key)
        if not names.is_valid_upload_id(upload_id):
            raise errors.NoSuchUpload()
        await self.buckets.get(bucket)
        for es in self.placement.sets_for(bucket, key):
            upload = await self._read_upload(es, bucket, key, upload_id)
            if upload is not None and upload.bucket == bucket and upload.key == key:
                return es, upload
        raise errors.NoSuchUpload()

    async def get(self, bucket: str, key: str, upload_id: str) -> UploadMeta:
        return (await self.find(bucket, key, upload_id))[1]

    async def _read_parts(self, es: ErasureSet, directory: str) -> dict[int, PartRecord]:
        async def read_drive(pos: int) -> dict[int, bytes]:
            drive = es.drives[pos]
            if drive is None:
                return {}
            try:
                listing = await drive.list_dir(paths.SYS_VOLUME, directory)
                out: dict[int, bytes] = {}
                for name in listing:
                    if name.startswith("part.") and name.endswith(".meta"):
                        out[int(name[5:-5])] = await drive.read_file(paths.SYS_VOLUME, f"{directory}/{name}")
                return out
            except (DriveError, ValueError):
                return {}
        per_drive = await asyncio.gather(*(read_drive(pos) for pos in range(es.n)))
        counts: Counter[tuple[int, bytes]] = Counter(item for d in per_drive for item in d.items())
        best: dict[int, tuple[int, bytes]] = {}
        for (number, data), count in counts.items():
            if count > best.get(number, (0, b""))[0]:
                best[number] = (count, data)
        return {n: PartRecord.unpack(d) for n, (c, d) in best.items() if c >= es.default_k}

    # --- operations ---------------------------------------------------------------------------------
    async def create(self, bucket: str, key: str, opts: PutOptions) -> str:
        names.check_key(key)
        bucket_meta = await self.buckets.get(bucket)
        es = await self.placement.set_for_write(bucket, key)
        parity = self.placement.parity(es, opts.storage_class)
        # The upload's encryption is fixed now (the KMS data key made once): a failure creates no upload.
        request = self.sse.resolve(opts.sse, bucket_meta.encryption)
        object_lock.new_version_lock(bucket_meta.object_lock, opts.lock, time.time())   # InvalidRequest
        sealed = await self.sse.seal_new(bucket, key, request) if request is not None else None
        lock = [opts.lock.mode, opts.lock.until, opts.lock.legal_hold] if opts.lock is not None else None
        upload = UploadMeta(bucket, key, uuid.uuid4().hex, time.time(), opts.storage_class, es.n - parity, parity,
                            es.distribution(key), dict(opts.metadata), dict(opts.tags), opts.checksum_algorithm,
                            opts.checksum_type, sealed.sse if sealed is not None else None, opts.owner, opts.acl,
                            lock)
        path = f"{upload_dir(bucket, key, upload.upload_id)}/upload.meta"
        data = upload.pack()
        positions = [pos for pos, d in enumerate(es.drives) if d is not None]
        results = await asyncio.gather(*(_write(es, pos, path, data) for pos in positions))
        done = [pos for pos, ok in zip(positions, results) if ok]
        if len(done) < write_quorum(es.default_k, es.standard_parity):
            raise errors.InsufficientWriteQuorum()
        self._missed(es, UploadRef(bucket, key, upload.upload_id), done)
        return upload.upload_id

    async def put_part(self, bucket: str, key: str, upload_id: str, number: int, body: PutBody,
                       opts: PutOptions) -> PartInfo:
        if not 1 <= number <= MAX_PART_NUMBER:
            raise errors.InvalidArgument("Part number must be an integer between 1 and 10000, inclusive.")
        es, upload = await self.find(bucket, key, upload_id)
        k, m = upload.data_blocks, upload.parity_blocks
        # The upload's key (SSE-C: the request's key must open it; KMS: decrypted) before a byte is stored.
        envelope = self.sse.envelope_of(upload.sse, f"{bucket}/{key} upload {upload_id}")
        customer_key = opts.sse.customer_key if opts.sse is not None and opts.sse.mode == "C" else None
        self.sse.check_customer_key(envelope, customer_key)
        opened = await self.sse.open_key(envelope, bucket, key, customer_key) if envelope is not None else None
        transform = opened.write_transform(number) if opened is not None else None
        size_hint = opts.size if opened is None or opts.size is None else stored_size(opts.size)
        stored = await write_data(es, k, m, upload.distribution, body, size_hint, -1, transform, name="part")
        directory = upload_dir(bucket, key, upload_id)
        done: list[int] = []
        try:
            if opts.content_md5 is not None and opts.content_md5 != stored.md5:
                raise errors.BadDigest()
            etag = opened.etag(stored.md5) if opened is not None else stored.md5.hex()
            record = PartRecord(number, stored.size, stored.stored_size, etag, time.time(),
                                dict(body.checksums()), f"part.{number}.{uuid.uuid4().hex}")
            meta_path = f"{directory}/part.{number}.meta"
            tmp_dirs = stored.tmp_dirs or {}
            async with es.lock(bucket, key):
                if await self._read_upload(es, bucket, key, upload_id) is None:
                    raise errors.NoSuchUpload()
                old = (await self._read_parts_one(es, directory, number))
                ops = []
                for pos, tmp in tmp_dirs.items():
                    drive = es.drives[pos]
                    assert drive is not None
                    ops.append(drive.commit(paths.SYS_VOLUME, meta_path, record.pack(), tmp_dir=tmp,
                                            data_path=f"{directory}/{record.data}"))
                results = await asyncio.gather(*ops, return_exceptions=True)
                done = [pos for pos, r in zip(tmp_dirs, results) if not isinstance(r, BaseException)]
                if len(done) < write_quorum(k, m):
                    raise errors.InsufficientWriteQuorum()
            self._missed(es, UploadRef(bucket, key, upload_id, number), done)
        finally:
            await discard(es, {p: t for p, t in (stored.tmp_dirs or {}).items() if p not in done})
        if old is not None and old.data != record.data:
            await self._remove(es, f"{directory}/{old.data}")
        info = record.info()
        return dataclasses.replace(info, sse=opened.info()) if opened is not None else info

    async def _read_parts_one(self, es: ErasureSet, directory: str, number: int) -> PartRecord | None:
        raw = await es.read_raw(paths.SYS_VOLUME, f"{directory}/part.{number}.meta")
        try:
            data = _quorum_bytes(es, raw)
        except errors.InsufficientReadQuorum:
            return None
        return PartRecord.unpack(data) if data is not None else None

    async def list_parts(self, bucket: str, key: str, upload_id: str, marker: int,
                         max_parts: int) -> ListPartsResult:
        es, upload = await self.find(bucket, key, upload_id)
        records = await self._read_parts(es, upload_dir(bucket, key, upload_id))
        numbers = sorted(n for n in records if n > marker)
        page = numbers[:max(0, max_parts)]
        truncated = len(numbers) > len(page)
        return ListPartsResult(upload.info(), [records[n].info() for n in page], truncated,
                               page[-1] if truncated and page else None)

    async def complete(self, bucket: str, key: str, upload_id: str, parts: list[CompletePart],
                       opts: PutOptions) -> ObjectInfo:
        try:
            return await self._complete(bucket, key, upload_id, parts, opts)
        except errors.NoSuchUpload:
            done = await self._completed(bucket, key, upload_id) if names.is_valid_upload_id(upload_id) else None
            if done is None or not done.answers(bucket, key, parts, time.time()):
                raise
            return done.info()          # a retry of a completion that succeeded: the same answer

    async def _completed(self, bucket: str, key: str, upload_id: str) -> CompletedUpload | None:
        for es in self.placement.sets_for(bucket, key):
            try:
                data = _quorum_bytes(es, await es.read_raw(paths.SYS_VOLUME,
                                                           upload_dir(bucket, key, upload_id) + DONE_SUFFIX))
            except errors.InsufficientReadQuorum:
                continue
            if data is not None:
                return CompletedUpload.unpack(data)
        return None

    async def _record_completed(self, es: ErasureSet, upload: UploadMeta, parts: list[CompletePart],
                                version: Version) -> None:
        """Keep what this completion answered (best effort: without it a retry is NoSuchUpload), and drop
        the key's expired records."""
        record = CompletedUpload(upload.bucket, upload.key, time.time(), _named(parts),
                                 version.version_id, version.size, version.etag, dict(version.checksums),
                                 version.checksum_type, version.sse)
        path = upload_dir(upload.bucket, upload.key, upload.upload_id) + DONE_SUFFIX
        data = record.pack()
        await asyncio.gather(*(_write(es, pos, path, data) for pos, d in enumerate(es.drives) if d is not None))
        await self._prune_completed(es, path.rsplit("/", 1)[0], record.completed)

    async def _prune_completed(self, es: ErasureSet, directory: str, now: float) -> None:
        """Remove the expired completion records in one ``multipart/<digest>`` dir, drive by drive."""
        async def prune(pos: int) -> None:
            drive = es.drives[pos]
            if drive is None:
                return
            try:
                names_ = await drive.list_dir(paths.SYS_VOLUME, directory)
            except DriveError:
                return
            for name in names_:
                if name.endswith(DONE_SUFFIX):
                    await _prune_record(drive, f"{directory}/{name}", now)
        await asyncio.gather(*(prune(pos) for pos in range(es.n)))

    async def _complete(self, bucket: str, key: str, upload_id: str, parts: list[CompletePart],
                        opts: PutOptions) -> ObjectInfo:
        if not parts:
            raise errors.MalformedXML("You must specify at least one part.")
        for before, after in zip(parts, parts[1:]):
            if after.number < before.number:       # a number named twice: a part uploaded twice (_validate)
                raise errors.InvalidPartOrder()
        es, upload = await self.find(bucket, key, upload_id)
        bucket_meta = await self.buckets.get(bucket)
        directory = upload_dir(bucket, key, upload_id)
        seen: tuple[str, str] | None = None
        if versions.has_preconditions(opts):        # 412 now; 409 if a write meanwhile breaks them
            early = await es.get_meta(bucket, key)
            versions.check_preconditions(early, opts)
            seen = versions.latest_identity(early)
        tmp_dirs: dict[int, str] = {}
        done: list[int] = []
        removed: list[Version] = []
        version: Version | None = None
        try:
            async with es.lock(bucket, key):
                if await self._read_upload(es, bucket, key, upload_id) is None:
                    raise errors.NoSuchUpload()
                records = await self._read_parts(es, directory)
                chosen = _validate(parts, records, upload.checksum_algorithm)
                view = await es.get_meta(bucket, key)
                versions.recheck_preconditions(view, opts, seen)
                version = self._version(upload, chosen, bucket_meta.versioning)
                version.lock_mode, version.lock_until, version.legal_hold = object_lock.new_version_lock(
                    bucket_meta.object_lock, upload.lock_request(), version.mod_time)
                _check_expected_checksums(version.checksums, opts.expected_checksums)
                tmp_dirs = await self._link_parts(es, directory, chosen)
                new_list, removed = versions.apply_put(view.versions if view else [], version)
                object_lock.check_removable(removed)        # never overwrite a locked version in place
                done = await es.commit(bucket, key, view, new_list, new_version=version, tmp_dirs=tmp_dirs,
                                       quorum=write_quorum(upload.data_blocks, upload.parity_blocks))
                await self._record_completed(es, upload, parts, version)
                await self._remove(es, directory)
        finally:
            await discard(es, {p: t for p, t in tmp_dirs.items() if p not in done})
        await self.drop(es, bucket, key, removed)
        assert version is not None
        return versions.to_info(bucket, key, version, True)

    def _version(self, upload: UploadMeta, chosen: list[PartRecord], versioning: Any) -> Version:
        md5s = b"".join(bytes.fromhex(r.etag) for r in chosen)
        etag = f"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"
        checksums, checksum_type = _object_checksums(upload, chosen)
        return Version(
            version_id=versions.new_version_id(versioning), data_id=uuid.uuid4().hex, mod_time=time.time(),
            size=sum(r.size for r in chosen), etag=etag, metadata=dict(upload.metadata), tags=dict(upload.tags),
            storage_class=upload.storage_class, data_blocks=upload.data_blocks,
            parity_blocks=upload.parity_blocks, block_size=BLOCK_SIZE, distribution=upload.distribution,
            parts=[PartMeta(r.number, r.size, r.stored_size, r.etag, r.mod_time, r.checksums) for r in chosen],
            multipart=True, checksums=checksums, checksum_type=checksum_type, sse=upload.sse, owner=upload.owner,
            acl=upload.acl)

    async def _link_parts(self, es: ErasureSet, directory: str, chosen: list[PartRecord]) -> dict[int, str]:
        """Hard-link the chosen parts into a fresh temporary data dir on each drive."""
        async def link(pos: int) -> tuple[int, str] | None:
            drive = es.drives[pos]
            if drive is None:
                return None
            tmp = drive.new_tmp_path()
            links = [(paths.SYS_VOLUME, f"{directory}/{r.data}/part", paths.SYS_VOLUME, f"{tmp}/part.{r.number}")
                     for r in chosen]
            try:
                await drive.link_files(links)
            except DriveError:
                try:
                    await drive.delete(paths.SYS_VOLUME, tmp, recursive=True)
                except DriveError:
                    pass
                return None
            return pos, tmp
        linked = await asyncio.gather(*(link(pos) for pos in range(es.n)))
        return dict(item for item in linked if item is not None)

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        es, _ = await self.find(bucket, key, upload_id)
        async with es.lock(bucket, key):
            await self._remove(es, upload_dir(bucket, key, upload_id))

    async def abort_all(self, bucket: str) -> None:
        for upload in (await self.list_uploads(bucket, "", "", "", "", 100000)).uploads:
            try:
                await self.abort(bucket, upload.key, upload.upload_id)
            except errors.NoSuchUpload:
                pass

    async def _remove(self, es: ErasureSet, path: str) -> None:
        """Remove ``path`` under the system volume on every drive of the set (best effort)."""
        await discard(es, {pos: path for pos in range(es.n)})

    def _missed(self, es: ErasureSet, ref: UploadRef, done: list[int]) -> None:
        missed = [pos for pos, d in enumerate(es.drives) if d is not None and pos not in done]
        if missed and self.on_missed is not None:
            self.on_missed(es, ref, missed)

    async def list_uploads(self, bucket: str, prefix: str, delimiter: str, key_marker: str,
                           upload_id_marker: str, max_uploads: int) -> ListUploadsResult:
        await self.buckets.get(bucket)
        found: dict[str, UploadMeta] = {}
        for es in self.placement.all_sets:
            for upload in await self.scan(es):
                if upload.bucket == bucket and upload.key.startswith(prefix):
                    found.setdefault(upload.upload_id, upload)
        ordered = sorted(found.values(), key=lambda u: (u.key, u.initiated, u.upload_id))
        result = ListUploadsResult([], [], False, None, None)
        after_marker = not upload_id_marker
        count = 0
        for upload in ordered:
            if upload.key < key_marker or (upload.key == key_marker and not upload_id_marker):
                continue
            if upload.key == key_marker and not after_marker:
                after_marker = upload.upload_id == upload_id_marker
                continue
            index = upload.key.find(delimiter, len(prefix)) if delimiter else -1
            common = upload.key[:index + len(delimiter)] if index >= 0 else None
            if common is not None and result.prefixes and result.prefixes[-1] == common:
                continue
            if count == max_uploads:
                result.is_truncated = True
                break
            if common is not None:
                result.prefixes.append(common)
                result.next_key_marker, result.next_upload_id_marker = common, None
            else:
                result.uploads.append(upload.info())
                result.next_key_marker, result.next_upload_id_marker = upload.key, upload.upload_id
            count += 1
        if not result.is_truncated:
            result.next_key_marker = result.next_upload_id_marker = None
        return result

    async def scan(self, es: ErasureSet) -> list[UploadMeta]:
        """Every upload whose metadata a drive of the set holds (union over drives)."""
        async def scan(pos: int) -> list[bytes]:
            drive = es.drives[pos]
            if drive is None:
                return []
            out: list[bytes] = []
            try:
                now = time.time()
                for digest in await drive.list_dir(paths.SYS_VOLUME, paths.MULTIPART_DIR):
                    base = f"{paths.MULTIPART_DIR}/{digest}"
                    for upload_id in await drive.list_dir(paths.SYS_VOLUME, base):
                        if upload_id.endswith(DONE_SUFFIX):         # a completion record, not an upload
                            await _prune_record(drive, f"{base}/{upload_id}", now)
                            continue
                        try:
                            out.append(await drive.read_file(paths.SYS_VOLUME, f"{base}/{upload_id}/upload.meta"))
                        except DriveError:
                            continue
            except DriveError:
                pass
            return out
        per_drive = await asyncio.gather(*(scan(pos) for pos in range(es.n)))
        uploads: dict[str, UploadMeta] = {}
        for data in {d for drive in per_drive for d in drive}:
            try:
                upload = UploadMeta.unpack(data)
            except errors.InternalError:
                continue
            uploads.setdefault(upload.upload_id, upload)
        return list(uploads.values())


    # --- healing ------------------------------------------------------------------------------------
    async def heal_upload(self, es: ErasureSet, ref: UploadRef) -> ObjectHealResult:
        """Make an upload in progress whole on every drive of its set that takes writes: its record, and
        the record and shard files of part ``ref.part`` (of every part when None). An upload that is
        gone (completed or aborted) is left alone."""
        result = ObjectHealResult()
        directory = upload_dir(ref.bucket, ref.key, ref.upload_id)
        name = f"{ref.bucket}/{ref.key} upload {ref.upload_id}"
        try:
            data = _quorum_bytes(es, await es.read_raw(paths.SYS_VOLUME, f"{directory}/upload.meta"))
            if data is None:
                return result
            upload = UploadMeta.unpack(data)
            await self._heal_record(es, ref, f"{directory}/upload.meta", result)
            records = await self._read_parts(es, directory)
            for number in sorted(records) if ref.part is None else [ref.part]:
                if number in records:
                    await self._heal_part(es, ref, directory, upload, records[number], result)
        except (errors.InsufficientReadQuorum, errors.InternalError, DriveError, ValueError) as exc:
            result.failed = True
            result.details.append(f"{name}: cannot heal ({exc!r})")
        return result

    async def _heal_part(self, es: ErasureSet, ref: UploadRef, directory: str, upload: UploadMeta,
                         record: PartRecord, result: ObjectHealResult) -> None:
        codec = get_codec(upload.data_blocks, upload.parity_blocks)
        layout = ShardLayout.of(codec, record.stored_size, BLOCK_SIZE)
        path = f"{directory}/{record.data}/part"

        async def install(tmp_files: dict[int, str]) -> int:
            async with es.lock(ref.bucket, ref.key):   # re-uploads and completes change parts under it
                current = await self._read_parts_one(es, directory, record.number)
                wanted = current is not None and current.data == record.data
                return await install_shards(es, upload.distribution, tmp_files, paths.SYS_VOLUME, path, wanted)
        moved = await heal_shard_file(es, codec, layout, upload.distribution, paths.SYS_VOLUME, path, install,
                                      result)
        result.shards_rebuilt += moved
        if moved:
            result.details.append(f"{ref.bucket}/{ref.key} upload {ref.upload_id} part {record.number}: "
                                  f"rebuilt {moved} shard(s)")
        await self._heal_record(es, ref, f"{directory}/part.{record.number}.meta", result)

    async def _heal_record(self, es: ErasureSet, ref: UploadRef, path: str, result: ObjectHealResult) -> None:
        """Copy the quorum's version of a record to the drives that lack it or hold another one."""
        def stale(raw: list[bytes | DriveError], good: bytes) -> list[int]:
            return [pos for pos, r in enumerate(raw) if r != good and es.drives[pos] is not None]
        raw = await es.read_raw(paths.SYS_VOLUME, path)
        good = _quorum_bytes(es, raw)
        if good is None or not stale(raw, good):
            return
        async with es.lock(ref.bucket, ref.key):      # the upload and its parts change only under it
            raw = await es.read_raw(paths.SYS_VOLUME, path)
            good = _quorum_bytes(es, raw)
            if good is None:
                return
            for pos in stale(raw, good):
                drive = es.drives[pos]
                assert drive is not None
                if not takes_writes(drive):
                    result.failed = True
                    result.details.append(f"{path}: {drive.endpoint} offline, healed when it returns")
                    continue
                try:
                    await drive.write_file(paths.SYS_VOLUME, path, good)
                except DriveError as exc:
                    result.failed = True
                    result.details.append(f"{path}: cannot write on {drive.endpoint}: {exc}")
                    continue
                result.metadata_repaired += 1
                result.details.append(f"{ref.bucket}/{ref.key} upload {ref.upload_id}: "
                                      f"restored {path.rsplit('/', 1)[1]} on {drive.endpoint}")


def _named(parts: list[CompletePart]) -> list[tuple[int, str]]:
    return [(p.number, p.etag.strip().strip('"')) for p in parts]


async def _prune_record(drive: Drive, path: str, now: float) -> None:
    """Remove a completion record once it has expired (or is unreadable)."""
    try:
        record = CompletedUpload.unpack(await drive.read_file(paths.SYS_VOLUME, path))
        if record is None or now - record.completed >= COMPLETED_RETENTION:
            await drive.delete(paths.SYS_VOLUME, path)
    except DriveError:
        pass


async def _write(es: ErasureSet, pos: int, path: str, data: bytes) -> bool:
    drive = es.drives[pos]
    assert drive is not None
    try:
        await drive.write_file(paths.SYS_VOLUME, path, data)
    except DriveError:
        return False
    return True


def _validate(parts: list[CompletePart], records: dict[int, PartRecord], algorithm: str | None) -> list[PartRecord]:
    """The records the (ascending) list names. A part number listed more than once is a part uploaded
    more than once (a client that re-sent it while the first upload still ran): the upload that finished
    last is the part, and the entry naming its ETag is the one that counts."""
    chosen: list[PartRecord] = []
    groups = [list(group) for _, group in itertools.groupby(parts, key=lambda p: p.number)]
    for i, group in enumerate(groups):
        record = records.get(group[0].number)
        part = next((p for p in group if record is not None and record.etag == p.etag.strip().strip('"')), None)
        if record is None or part is None:
            raise errors.InvalidPart()
        if algorithm and part.checksums.get(algorithm) not in (None, record.checksums.get(algorithm)):
            raise errors.InvalidPart("The checksum of a part does not match the uploaded part.")
        if i < len(groups) - 1 and record.size < MIN_PART_SIZE:
            raise errors.EntityTooSmall()
        chosen.append(record)
    return chosen


def _check_expected_checksums(computed: dict[str, str], expected: dict[str, str]) -> None:
    """The client's whole-object checksums must match ours (COMPOSITE values compare without "-N")."""
    for algorithm, value in expected.items():
        ours = computed.get(algorithm)
        if ours is None:
            raise errors.InvalidRequest(
                f"The upload was not created with checksum algorithm {algorithm}, so it cannot be checked.")
        if ours.split("-")[0] != value.split("-")[0]:
            raise errors.BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")


def _object_checksums(upload: UploadMeta, chosen: list[PartRecord]) -> tuple[dict[str, str], str | None]:
    algorithm = upload.checksum_algorithm
    if not algorithm or not all(algorithm in r.checksums for r in chosen):
        return {}, None
    raw = [base64.b64decode(r.checksums[algorithm]) for r in chosen]
    kind = upload.checksum_type or ("FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
    if kind == "FULL_OBJECT" and algorithm in _COMBINE:
        width, combine = _COMBINE[algorithm]
        crc = int.from_bytes(raw[0], "big")
        for value, record in zip(raw[1:], chosen[1:]):
            crc = combine(crc, int.from_bytes(value, "big"), record.size)
        return {algorithm: base64.b64encode(crc.to_bytes(width, "big")).decode()}, "FULL_OBJECT"
    digest = _HASH[algorithm](b"".join(raw))
    return {algorithm: f"{base64.b64encode(digest).decode()}-{len(chosen)}"}, "COMPOSITE"


_COMBINE = {
    "CRC32": (4, crt.combine_crc32),
    "CRC32C": (4, crt.combine_crc32c),
    "CRC64NVME": (8, crt.combine_crc64nvme),
}
_HASH = {
    "CRC32": lambda b: zlib.crc32(b).to_bytes(4, "big"),
    "CRC32C": lambda b: crc32c.crc32c(b).to_bytes(4, "big"),
    "CRC64NVME": lambda b: crt.crc64nvme(b).to_bytes(8, "big"),
    "SHA1": lambda b: hashlib.sha1(b).digest(),
    "SHA256": lambda b: hashlib.sha256(b).digest(),
}
