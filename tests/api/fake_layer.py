"""An in-memory ObjectLayer with S3 semantics, so the API can be tested apart from the storage layers.

It mirrors the contract in ``storage_engine/objects/types.py`` closely enough for handler tests:
versioning (null versions, delete markers), listings with delimiters and markers, multipart with
part-size checks, tags, conditional writes. Nothing is persisted; nothing is erasure-coded.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from storage_engine import errors
from storage_engine.objects.types import (
    NULL_VERSION,
    BucketInfo,
    CompletePart,
    DeleteResult,
    HealReport,
    ListedObject,
    ListObjectsResult,
    ListPartsResult,
    ListUploadsResult,
    ListVersionsResult,
    ObjectInfo,
    PartInfo,
    PutBody,
    PutOptions,
    UploadInfo,
    VersioningStatus,
)

MIN_PART = 5 << 20


@dataclass
class _Version:
    info: ObjectInfo
    data: bytes


@dataclass
class _Upload:
    info: UploadInfo
    opts: PutOptions
    parts: dict[int, tuple[PartInfo, bytes]] = field(default_factory=dict)


@dataclass
class _Bucket:
    created: float
    versioning: VersioningStatus = ""
    objects: dict[str, list[_Version]] = field(default_factory=dict)   # newest first
    uploads: dict[str, _Upload] = field(default_factory=dict)


class FakeReader:
    def __init__(self, info: ObjectInfo, data: bytes) -> None:
        self.info = info
        self._data = data
        self.closed = False

    async def stream(self, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        end = len(self._data) if length is None else offset + length
        for start in range(offset, end, 1 << 16):
            yield self._data[start:min(end, start + (1 << 16))]

    def stream_views(self, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self.stream(offset, length)

    async def close(self) -> None:
        self.closed = True


async def _read_all(body: PutBody) -> bytes:
    chunks = []
    while chunk := await body.read(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _group(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    cut = key.find(delimiter, len(prefix))
    return key[: cut + len(delimiter)] if cut >= 0 else None


class FakeLayer:
    def __init__(self) -> None:
        self.buckets: dict[str, _Bucket] = {}

    def _bucket(self, name: str) -> _Bucket:
        try:
            return self.buckets[name]
        except KeyError:
            raise errors.NoSuchBucket(resource=name) from None

    # --- buckets ---
    async def make_bucket(self, bucket: str, **access: object) -> None:    # owner, ACL: not kept
        if bucket in self.buckets:
            raise errors.BucketAlreadyOwnedByYou()
        self.buckets[bucket] = _Bucket(time.time())

    async def delete_bucket(self, bucket: str) -> None:
        if self._bucket(bucket).objects:
            raise errors.BucketNotEmpty()
        del self.buckets[bucket]

    async def get_bucket_info(self, bucket: str) -> BucketInfo:
        return BucketInfo(bucket, self._bucket(bucket).created)

    async def list_buckets(self) -> list[BucketInfo]:
        return [BucketInfo(name, b.created) for name, b in sorted(self.buckets.items())]

    async def get_bucket_versioning(self, bucket: str) -> VersioningStatus:
        return self._bucket(bucket).versioning

    async def get_object_lock_config(self, bucket: str) -> None:
        self._bucket(bucket)
        return None                                 # no object lock here: tests/e2e/test_object_lock.py

    async def set_bucket_versioning(self, bucket: str, status: VersioningStatus) -> None:
        self._bucket(bucket).versioning = status

    # --- objects ---
    def _latest(self, bucket: str, key: str) -> _Version | None:
        versions = self._bucket(bucket).objects.get(key)
        return versions[0] if versions else None

    def _check_write(self, bucket: str, key: str, opts: PutOptions) -> None:
        latest = self._latest(bucket, key)
        exists = latest is not None and not latest.info.delete_marker
        if opts.if_none_match_star and exists:
            raise errors.PreconditionFailed()
        if opts.if_match is not None and (not exists or latest is None or latest.info.etag != opts.if_match):
            raise errors.PreconditionFailed() if exists else errors.NoSuchKey()

    def _add_version(self, bucket: str, info: ObjectInfo, data: bytes) -> ObjectInfo:
        b = self._bucket(bucket)
        version_id = uuid.uuid4().hex if b.versioning == "Enabled" else NULL_VERSION
        info = replace(info, version_id=version_id, is_latest=True)
        versions = [replace(v.info, is_latest=False) for v in b.objects.get(info.key, [])]
        old = [_Version(i, v.data) for i, v in zip(versions, b.objects.get(info.key, []))
               if i.version_id != version_id]
        b.objects[info.key] = [_Version(info, data)] + old
        return info

    async def put_object(self, bucket: str, key: str, body: PutBody, opts: PutOptions) -> ObjectInfo:
        self._bucket(bucket)
        data = await _read_all(body)
        md5 = hashlib.md5(data)
        if opts.content_md5 is not None and md5.digest() != opts.content_md5:
            raise errors.BadDigest()
        if opts.size is not None and opts.size != len(data):
            raise errors.IncompleteBody()
        self._check_write(bucket, key, opts)
        info = ObjectInfo(bucket, key, NULL_VERSION, len(data), md5.hexdigest(), time.time(),
                          metadata=dict(opts.metadata), tags=dict(opts.tags), storage_class=opts.storage_class,
                          checksums=body.checksums(), checksum_type="FULL_OBJECT" if body.checksums() else None)
        return self._add_version(bucket, info, data)

    def _find(self, bucket: str, key: str, version_id: str | None) -> _Version:
        versions = self._bucket(bucket).objects.get(key, [])
        if version_id is None:
            if not versions:
                raise errors.NoSuchKey()
            if versions[0].info.delete_marker:
                raise errors.NoSuchKey(headers={"x-amz-delete-marker": "true",
                                                "x-amz-version-id": versions[0].info.version_id})
            return versions[0]
        for v in versions:
            if v.info.version_id == version_id:
                if v.info.delete_marker:
                    raise errors.MethodNotAllowed(headers={"x-amz-delete-marker": "true"})
                return v
        raise errors.NoSuchVersion()

    async def get_object(self, bucket: str, key: str, version_id: str | None = None) -> FakeReader:
        v = self._find(bucket, key, version_id)
        return FakeReader(v.info, v.data)

    async def get_object_info(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        return self._find(bucket, key, version_id).info

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None, *,
                            owner: str = "") -> DeleteResult:
        b = self._bucket(bucket)
        versions = b.objects.get(key, [])
        if version_id is not None:
            kept = [v for v in versions if v.info.version_id != version_id]
            removed = [v for v in versions if v.info.version_id == version_id]
            if kept:
                kept[0].info = replace(kept[0].info, is_latest=True)
                b.objects[key] = kept
            else:
                b.objects.pop(key, None)
            return DeleteResult(version_id, bool(removed) and removed[0].info.delete_marker)
        if not b.versioning:
            b.objects.pop(key, None)
            return DeleteResult(None, False)
        marker = ObjectInfo(bucket, key, NULL_VERSION, 0, "", time.time(), delete_marker=True)
        info = self._add_version(bucket, marker, b"")
        return DeleteResult(info.version_id, True)

    async def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "",
                           marker: str = "", max_keys: int = 1000) -> ListObjectsResult:
        b = self._bucket(bucket)
        objects: list[ListedObject] = []
        prefixes: list[str] = []
        last = None
        for key in sorted(b.objects, key=lambda k: k.encode()):
            if not key.startswith(prefix) or key <= marker:
                continue
            versions = b.objects[key]
            if not versions or versions[0].info.delete_marker:
                continue
            group = _group(key, prefix, delimiter)
            if group is not None and (group == marker or (prefixes and prefixes[-1] == group)):
                continue
            if len(objects) + len(prefixes) == max_keys:
                return ListObjectsResult(objects, prefixes, True, last)
            if group is not None:
                prefixes.append(group)
                last = group
            else:
                info = versions[0].info
                objects.append(ListedObject(key, info.mod_time, info.size, info.etag, info.storage_class,
                                            info.checksums, info.checksum_type, info.owner))
                last = key
        return ListObjectsResult(objects, prefixes, False, None)

    async def list_object_versions(self, bucket: str, prefix: str = "", delimiter: str = "",
                                   key_marker: str = "", version_id_marker: str = "",
                                   max_keys: int = 1000) -> ListVersionsResult:
        b = self._bucket(bucket)
        flat: list[ObjectInfo] = []
        prefixes: list[str] = []
        for key in sorted(b.objects):
            if not key.startswith(prefix):
                continue
            group = _group(key, prefix, delimiter)
            if group is not None:
                if group not in prefixes:
                    prefixes.append(group)
                continue
            flat.extend(v.info for v in b.objects[key])
        start = 0
        if key_marker:
            start = len([i for i in flat if i.key <= key_marker])
            if version_id_marker:
                ids = [(i.key, i.version_id) for i in flat]
                if (key_marker, version_id_marker) in ids:
                    start = ids.index((key_marker, version_id_marker)) + 1
        out = flat[start:start + max_keys]
        truncated = start + max_keys < len(flat)
        return ListVersionsResult(out, prefixes, truncated, out[-1].key if truncated else None,
                                  out[-1].version_id if truncated else None)

    async def put_object_tags(self, bucket: str, key: str, version_id: str | None,
                              tags: dict[str, str]) -> ObjectInfo:
        v = self._find(bucket, key, version_id)
        v.info = replace(v.info, tags=dict(tags))
        return v.info

    async def delete_object_tags(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo:
        return await self.put_object_tags(bucket, key, version_id, {})

    # --- multipart ---
    def _upload(self, bucket: str, key: str, upload_id: str) -> _Upload:
        upload = self._bucket(bucket).uploads.get(upload_id)
        if upload is None or upload.info.key != key:
            raise errors.NoSuchUpload()
        return upload

    async def new_multipart_upload(self, bucket: str, key: str, opts: PutOptions) -> str:
        upload_id = uuid.uuid4().hex
        self._bucket(bucket).uploads[upload_id] = _Upload(
            UploadInfo(key, upload_id, time.time(), opts.storage_class, opts.checksum_algorithm,
                       opts.checksum_type, dict(opts.metadata)), opts)
        return upload_id

    async def put_object_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                              body: PutBody, opts: PutOptions) -> PartInfo:
        upload = self._upload(bucket, key, upload_id)
        data = await _read_all(body)
        part = PartInfo(part_number, len(data), hashlib.md5(data).hexdigest(), time.time(), body.checksums())
        upload.parts[part_number] = (part, data)
        return part

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        return self._upload(bucket, key, upload_id).info

    async def list_parts(self, bucket: str, key: str, upload_id: str, part_number_marker: int = 0,
                         max_parts: int = 1000) -> ListPartsResult:
        upload = self._upload(bucket, key, upload_id)
        parts = [p for n, (p, _) in sorted(upload.parts.items()) if n > part_number_marker]
        truncated = len(parts) > max_parts
        parts = parts[:max_parts]
        return ListPartsResult(upload.info, parts, truncated, parts[-1].number if truncated else None)

    async def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                        parts: list[CompletePart], opts: PutOptions) -> ObjectInfo:
        upload = self._upload(bucket, key, upload_id)
        numbers = [p.number for p in parts]
        if numbers != sorted(set(numbers)):
            raise errors.InvalidPartOrder()
        chosen: list[tuple[PartInfo, bytes]] = []
        for i, wanted in enumerate(parts):
            found = upload.parts.get(wanted.number)
            if found is None or found[0].etag != wanted.etag:
                raise errors.InvalidPart()
            if i < len(parts) - 1 and found[0].size < MIN_PART:
                raise errors.EntityTooSmall()
            chosen.append(found)
        self._check_write(bucket, key, opts)
        md5s = b"".join(bytes.fromhex(p.etag) for p, _ in chosen)
        etag = f"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"
        data = b"".join(d for _, d in chosen)
        info = ObjectInfo(bucket, key, NULL_VERSION, len(data), etag, time.time(),
                          metadata=dict(upload.opts.metadata), tags=dict(upload.opts.tags),
                          storage_class=upload.opts.storage_class, parts=tuple(p for p, _ in chosen))
        del self._bucket(bucket).uploads[upload_id]
        return self._add_version(bucket, info, data)

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._upload(bucket, key, upload_id)
        del self._bucket(bucket).uploads[upload_id]

    async def list_multipart_uploads(self, bucket: str, prefix: str = "", delimiter: str = "",
                                     key_marker: str = "", upload_id_marker: str = "",
                                     max_uploads: int = 1000) -> ListUploadsResult:
        uploads = sorted((u.info for u in self._bucket(bucket).uploads.values()
                          if u.info.key.startswith(prefix) and u.info.key > key_marker),
                         key=lambda u: (u.key, u.initiated))
        truncated = len(uploads) > max_uploads
        uploads = uploads[:max_uploads]
        last = uploads[-1] if truncated else None
        return ListUploadsResult(uploads, [], truncated, last.key if last else None,
                                 last.upload_id if last else None)

    async def heal(self, bucket: str | None = None) -> HealReport:
        return HealReport(objects_scanned=sum(len(b.objects) for n, b in self.buckets.items()
                                              if bucket is None or n == bucket))

    async def close(self) -> None:
        pass
