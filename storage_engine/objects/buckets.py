"""Buckets: a directory on every drive plus ``.rustfs.sys/buckets/<name>.meta`` (created, versioning).

Bucket state is read on every request, and several worker processes may change it, so the cache is
revalidated on each use by one ``stat`` of the metadata file on a probe drive: every update replaces
the file (new inode), so an unchanged stat means an unchanged bucket.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import msgpack

from storage_engine.drives import paths
from storage_engine.drives.base import Drive, DriveError, FileNotFound, FileStat
from storage_engine.errors import (BucketAlreadyOwnedByYou, InsufficientReadQuorum, InsufficientWriteQuorum,
                                   NoSuchBucket)
from storage_engine.erasure.locks import KeyLocker
from storage_engine.objects import names
from storage_engine.objects.types import BucketInfo, VersioningStatus


@dataclass(frozen=True, slots=True)
class BucketMeta:
    name: str
    created: float
    versioning: VersioningStatus = ""

    def pack(self) -> bytes:
        return cast(bytes, msgpack.packb({"name": self.name, "created": self.created, "versioning": self.versioning}))

    @classmethod
    def unpack(cls, data: bytes) -> BucketMeta:
        doc = msgpack.unpackb(data)
        return cls(str(doc["name"]), float(doc["created"]), doc.get("versioning", ""))


def _meta_path(name: str) -> str:
    return f"{paths.BUCKETS_DIR}/{name}.meta"


class BucketStore:
    def __init__(self, drives: Sequence[Drive | None], locker: KeyLocker) -> None:
        self._drives = [d for d in drives if d is not None]
        self._total = len(drives)
        self._locker = locker
        self._cache: dict[str, tuple[FileStat, BucketMeta]] = {}

    @property
    def _write_quorum(self) -> int:
        return self._total // 2 + 1

    async def get(self, name: str) -> BucketMeta:
        """The bucket's metadata; NoSuchBucket (also for names that cannot be buckets)."""
        if not names.is_valid_bucket(name):
            raise NoSuchBucket(resource=name)
        cached = self._cache.get(name)
        probe = self._drives[0] if self._drives else None
        stat: FileStat | None = None
        if probe is not None:
            try:
                stat = await probe.stat_file(paths.SYS_VOLUME, _meta_path(name))
            except DriveError:
                stat = None
            if cached is not None and stat is not None and cached[0] == stat:
                return cached[1]
        meta, probe_agrees = await self._read_quorum(name)
        if stat is not None and probe_agrees:
            self._cache[name] = (stat, meta)
        return meta

    async def _read_quorum(self, name: str) -> tuple[BucketMeta, bool]:
        path = _meta_path(name)
        results = await asyncio.gather(*(_read(d, path) for d in self._drives))
        found = Counter(r for r in results if isinstance(r, bytes))
        missing = sum(isinstance(r, FileNotFound) for r in results)
        if found:
            data, count = found.most_common(1)[0]
            if count >= self._total - self._write_quorum + 1 or count > missing:
                try:
                    return BucketMeta.unpack(data), results[0] == data
                except (ValueError, KeyError, TypeError):
                    pass
        if missing >= self._total - self._write_quorum + 1:
            self._cache.pop(name, None)
            raise NoSuchBucket(resource=name)
        raise InsufficientReadQuorum()

    async def exists(self, name: str) -> bool:
        try:
            await self.get(name)
        except NoSuchBucket:
            return False
        return True

    async def create(self, name: str) -> None:
        names.check_bucket(name)
        async with self._locker.lock(f"bucket:{name}"):
            if await self.exists(name):
                raise BucketAlreadyOwnedByYou(resource=name)
            meta = BucketMeta(name, time.time())

            async def create_on(drive: Drive) -> None:
                await drive.make_volume(name)
                await drive.write_file(paths.SYS_VOLUME, _meta_path(name), meta.pack())
            await self._quorum_op([create_on(d) for d in self._drives])

    async def put(self, meta: BucketMeta) -> None:
        """Replace a bucket's metadata (the caller holds ``lock(name)``)."""
        data = meta.pack()
        await self._quorum_op([d.write_file(paths.SYS_VOLUME, _meta_path(meta.name), data) for d in self._drives])

    async def remove(self, name: str) -> None:
        """Forget the bucket and delete its (empty) directories (the caller checked it is empty)."""
        await self._quorum_op([d.delete(paths.SYS_VOLUME, _meta_path(name)) for d in self._drives])
        self._cache.pop(name, None)

        async def delete_dir(drive: Drive) -> None:
            try:
                await drive.delete(name, "", recursive=True)
            except DriveError:
                pass
        await asyncio.gather(*(delete_dir(d) for d in self._drives))

    def lock(self, name: str):  # noqa: ANN201 - an async context manager
        return self._locker.lock(f"bucket:{name}")

    async def list(self) -> list[BucketInfo]:
        listings = await asyncio.gather(*(_list(d) for d in self._drives))
        counts = Counter(n for listing in listings for n in set(listing))
        out = []
        for file_name in sorted(counts):
            if not file_name.endswith(".meta"):
                continue
            try:
                meta = await self.get(file_name[: -len(".meta")])
            except (NoSuchBucket, InsufficientReadQuorum):
                continue
            out.append(BucketInfo(meta.name, meta.created))
        return sorted(out, key=lambda b: b.name)

    async def _quorum_op(self, ops: list) -> None:  # type: ignore[type-arg]
        results = await asyncio.gather(*ops, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, DriveError):
                raise r
        if sum(not isinstance(r, BaseException) for r in results) < self._write_quorum:
            raise InsufficientWriteQuorum()


async def _read(drive: Drive, path: str) -> bytes | DriveError:
    try:
        return await drive.read_file(paths.SYS_VOLUME, path)
    except DriveError as exc:
        return exc


async def _list(drive: Drive) -> list[str]:
    try:
        return await drive.list_dir(paths.SYS_VOLUME, paths.BUCKETS_DIR)
    except DriveError:
        return []
