"""One erasure set: quorum reads and writes of a key's metadata, and its shards.

Quorums (MinIO's rules): an object with ``k`` data and ``m`` parity shards is readable from any ``k``
drives that agree on its metadata (read quorum ``k``), and a write counts once ``k`` drives took it,
``k + 1`` when ``k == m`` (write quorum) so two halves of a set can never both accept conflicting
writes. A key is absent when so many drives lack it that no committed write can exist
(``n - write_quorum + 1`` drives).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import xxhash

from storage_engine.drives import metafile, paths
from storage_engine.drives.base import Drive, DriveError, DriveOffline, FileNotFound, VolumeNotFound, as_result
from storage_engine.drives.health import CheckedDrive
from storage_engine.errors import InsufficientReadQuorum, NoSuchBucket
from storage_engine.erasure.bitrot import ShardLayout
from storage_engine.erasure.codec import get_codec
from storage_engine.erasure.locks import NameLocker
from storage_engine.erasure.metadata import (Version, decode_header, decode_inline, encode_header, encode_inline,
                                             find)
from storage_engine.erasure.reader import BytesSource, ShardSource, VersionReader
from storage_engine.erasure.writer import ErasureWriter, quorum_lost

log = logging.getLogger(__name__)

RawMeta = bytes | DriveError
# Told of a commit that reached its quorum but not every drive: (set, bucket, key, positions missed).
MissedWrite = Callable[["ErasureSet", str, str, list[int]], None]
# Shard files opened up front, so an overwrite cannot pull them from under a running GET.
PREOPEN_PARTS = 32


def write_quorum(k: int, m: int) -> int:
    return k + 1 if k == m else k


@dataclass(slots=True)
class MetaView:
    """The quorum's view of one key, and what each drive holds."""

    versions: list[Version]
    header: bytes
    raw: list[RawMeta]                    # per drive position: the file, or why it is not there
    headers: list[bytes | None]           # per drive: its verified header (None: missing or corrupt)
    inline_raw: list[bytes]               # per drive: its inline section
    _inline: dict[int, dict[str, bytes]] = field(default_factory=dict)

    def agrees(self, pos: int) -> bool:
        return self.headers[pos] == self.header

    @property
    def consistent(self) -> bool:
        """Every drive holds exactly the quorum's metadata."""
        return all(h == self.header for h in self.headers)

    def inline_of(self, pos: int) -> dict[str, bytes]:
        shards = self._inline.get(pos)
        if shards is None:
            shards = decode_inline(self.inline_raw[pos]) if self.headers[pos] is not None else {}
            self._inline[pos] = shards
        return shards

    def holds(self, pos: int, version: Version) -> bool:
        """Whether drive ``pos`` knows ``version`` (so its shards of it are worth reading)."""
        header = self.headers[pos]
        if header is None:
            return False
        if header == self.header:
            return True
        try:
            theirs = find(decode_header(header), version.version_id)
        except metafile.CorruptMetaFile:
            return False
        return theirs is not None and theirs.same_data(version)

    def old_file(self, pos: int) -> bytes | None:
        raw = self.raw[pos]
        return raw if isinstance(raw, bytes) else None


class ErasureSet:
    def __init__(self, pool: int, index: int, drives: Sequence[Drive | None], standard_parity: int,
                 rrs_parity: int, locker: NameLocker) -> None:
        self.pool = pool
        self.index = index
        self.drives = list(drives)
        self.n = len(drives)
        self.standard_parity = standard_parity
        self.rrs_parity = rrs_parity
        self.locker = locker
        self.default_k = self.n - standard_parity
        # Fewest drives any committed write reached, over the storage classes.
        self.min_write_quorum = min(write_quorum(self.n - p, p) for p in (standard_parity, rrs_parity))
        # Drives a listing walks: a version a read finds is on at least a read quorum of drives (its data
        # blocks), so on one of these. A listing thus lists every key a GET returns, also one whose commit
        # a crash cut short between a read and a write quorum (seen in tests/e2e/test_crash.py).
        self.listing_width = max(1, self.n - min(self.n - p for p in (standard_parity, rrs_parity)) + 1)
        self.on_missed: MissedWrite | None = None   # the healer's, so the drives that missed it catch up

    def __repr__(self) -> str:
        return f"ErasureSet(pool={self.pool}, set={self.index})"

    def parity_of(self, storage_class: str) -> int:
        return self.rrs_parity if storage_class == "REDUCED_REDUNDANCY" else self.standard_parity

    def distribution(self, key: str) -> list[int]:
        """Drive position of each shard index: rotated by key, so parity (and the data-first reads)
        spread over all drives."""
        offset = xxhash.xxh32_intdigest(key.encode()) % self.n
        return [(s + offset) % self.n for s in range(self.n)]

    def lock(self, bucket: str, key: str):  # noqa: ANN201 - an async context manager
        return self.locker.lock(f"{bucket}/{key}")

    # --- drive health -------------------------------------------------------------------------------
    def online_drives(self) -> list[Drive]:
        """Drives usable for reads and writes now (healing ones included)."""
        return [d for d in self.drives if d is not None and (not isinstance(d, CheckedDrive) or d.online)]

    def listable_drives(self) -> list[Drive]:
        """Drives that hold every committed key they should (healing ones lack some)."""
        return [d for d in self.drives if d is not None and (not isinstance(d, CheckedDrive) or d.listable)]

    def listing_positions(self) -> list[int]:
        """Positions of the drives a listing walks first (``objects/listing.py``)."""
        listable = [pos for pos, d in enumerate(self.drives)
                    if d is not None and (not isinstance(d, CheckedDrive) or d.listable)]
        return listable[:self.listing_width]

    def has_quorum(self) -> bool:
        """Enough drives online to read and to write objects of the default storage class."""
        return len(self.online_drives()) >= write_quorum(self.default_k, self.standard_parity)

    # --- metadata reads -----------------------------------------------------------------------------
    async def read_raw(self, volume: str, path: str) -> list[RawMeta]:
        results: list[RawMeta] = [DriveOffline()] * self.n
        slow: list[int] = []
        for pos, drive in enumerate(self.drives):
            if drive is None:
                continue
            try:
                data = drive.read_meta_nowait(volume, path)
            except DriveError as exc:
                results[pos] = as_result(exc)
                continue
            if data is None:
                slow.append(pos)
            else:
                results[pos] = data
        if slow:
            fetched = await asyncio.gather(*(self._read_meta(pos, volume, path) for pos in slow))
            for pos, result in zip(slow, fetched):
                results[pos] = result
        return results

    async def _read_meta(self, pos: int, volume: str, path: str) -> RawMeta:
        drive = self.drives[pos]
        assert drive is not None
        try:
            return await drive.read_meta(volume, path)
        except DriveError as exc:
            return as_result(exc)

    def resolve(self, raw: list[RawMeta]) -> MetaView | None:
        """The quorum's metadata; None when the key is absent; InsufficientReadQuorum when unknowable."""
        headers: list[bytes | None] = []
        inlines: list[bytes] = []
        not_found = 0
        for item in raw:
            header, inline = None, b""
            if isinstance(item, bytes):
                try:
                    header, inline = metafile.unpack(item)
                except metafile.CorruptMetaFile:
                    pass
            elif isinstance(item, FileNotFound):
                not_found += 1
            headers.append(header)
            inlines.append(inline)
        counts = Counter(h for h in headers if h is not None)
        # A commit cut short (a crash, a node lost mid-write) can leave two versions with a read quorum
        # each. Answer as a listing would: when the drives it walks hold one readable version, that is
        # the answer (a committed newer version is always on one of them, so this never hides one).
        probe = self.listing_positions() if len(counts) > 1 else []
        if probe and len(probe) == self.listing_width:
            first = headers[probe[0]]
            if first is not None and all(headers[pos] == first for pos in probe):
                try:
                    versions = decode_header(first)
                except metafile.CorruptMetaFile:
                    versions = []
                if versions and counts[first] >= (versions[0].data_blocks or self.default_k):
                    return MetaView(versions, first, raw, headers, inlines)
        candidates: list[tuple[int, float, bytes, list[Version]]] = []
        for header, count in counts.items():
            try:
                versions = decode_header(header)
            except metafile.CorruptMetaFile:
                continue
            if not versions:
                continue
            newest = versions[0].mod_time
            candidates.append((count, newest, header, versions))
        if candidates:
            count, _, header, versions = max(candidates, key=lambda c: (c[0], c[1]))
            latest = versions[0]
            needed = latest.data_blocks if latest.data_blocks else self.default_k
            if count >= needed:
                return MetaView(versions, header, raw, headers, inlines)
        if not_found >= self.n - self.min_write_quorum + 1:
            return None
        raise InsufficientReadQuorum()

    async def get_meta(self, bucket: str, key: str) -> MetaView | None:
        return self.resolve(await self.read_raw(bucket, paths.meta_path(key)))

    # --- metadata writes ----------------------------------------------------------------------------
    async def commit(self, bucket: str, key: str, view: MetaView | None, versions: list[Version], *,
                     new_version: Version | None = None, inline_shards: list[bytes] | None = None,
                     tmp_dirs: dict[int, str] | None = None, quorum: int | None = None) -> list[int]:
        """Write ``versions`` as the key's metadata on every drive (the caller holds the key lock).

        With ``tmp_dirs`` (drive position -> temporary data dir of ``new_version``), the data is moved into
        place first, and only drives that hold the new data get the new metadata. Below the write quorum
        the drives that took it are rolled back and InsufficientWriteQuorum is raised (StorageFull when
        full drives made the difference). Returns the drive positions that took the commit.
        """
        meta_path = paths.meta_path(key)
        header = encode_header(versions) if versions else b""
        inline_ids = {v.data_id for v in versions if v.inline and not v.delete_marker}
        data_path = f"{paths.data_container(key)}/{new_version.data_id}" if new_version and tmp_dirs else None
        shard_of = {pos: s for s, pos in enumerate(new_version.distribution)} if new_version else {}
        positions: list[int] = []
        ops = []
        for pos, drive in enumerate(self.drives):
            if drive is None or (tmp_dirs is not None and pos not in tmp_dirs):
                continue
            positions.append(pos)
            if not versions:
                ops.append(drive.delete(bucket, meta_path))
                continue
            old_inline = view.inline_of(pos) if view else {}
            inline = {i: s for i, s in old_inline.items() if i in inline_ids}
            if new_version is not None and inline_shards is not None:
                inline[new_version.data_id] = inline_shards[shard_of[pos]]
            data = metafile.pack(header, encode_inline(inline))
            ops.append(drive.commit(bucket, meta_path, data, tmp_dir=tmp_dirs[pos] if tmp_dirs else None,
                                    data_path=data_path))
        results = await asyncio.gather(*ops, return_exceptions=True)
        done = [pos for pos, r in zip(positions, results) if not isinstance(r, BaseException)]
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, DriveError):
                raise error
        needed = quorum if quorum is not None else write_quorum(self.default_k, self.standard_parity)
        if len(done) >= needed:
            missed = [pos for pos, d in enumerate(self.drives) if d is not None and pos not in done]
            if missed and self.on_missed is not None:
                self.on_missed(self, bucket, key, missed)
            return done
        await self._rollback(bucket, meta_path, view, done, data_path)
        # Only when no drive has the bucket's directory (deleted meanwhile); some missing it is drive loss.
        if not done and errors and all(isinstance(e, VolumeNotFound) for e in errors):
            raise NoSuchBucket()
        log.warning("%s: write quorum lost for %s/%s: %s", self, bucket, key, errors)
        raise quorum_lost(len(done), needed, errors)

    async def _rollback(self, bucket: str, meta_path: str, view: MetaView | None, done: list[int],
                        data_path: str | None) -> None:
        async def undo(pos: int) -> None:
            drive = self.drives[pos]
            assert drive is not None
            old = view.old_file(pos) if view else None
            try:
                if old is not None:
                    await drive.write_file(bucket, meta_path, old)
                else:
                    await drive.delete(bucket, meta_path)
                if data_path:
                    await drive.delete(bucket, data_path, recursive=True)
            except DriveError as exc:
                log.warning("%s: rollback on %s failed: %s", self, drive.endpoint, exc)
        await asyncio.gather(*(undo(pos) for pos in done))

    async def remove_data(self, bucket: str, key: str, data_ids: Sequence[str]) -> None:
        """Delete the data dirs of versions that are gone (after their metadata commit)."""
        if not data_ids:
            return
        container = paths.data_container(key)

        async def remove(drive: Drive) -> None:
            for data_id in data_ids:
                try:
                    await drive.delete(bucket, f"{container}/{data_id}", recursive=True)
                except DriveError as exc:
                    log.warning("%s: cannot remove old data on %s: %s", self, drive.endpoint, exc)
        await asyncio.gather(*(remove(d) for d in self.drives if d is not None))

    # --- data ---------------------------------------------------------------------------------------
    async def create_writers(self, k: int, m: int, distribution: list[int], size_hint: int,
                             name: str = "part.1") -> tuple[ErasureWriter, dict[int, str]]:
        """Shard writers into a fresh temporary dir on each drive; returns the writer and, per drive
        position, the temporary dir that holds ``name``."""
        codec = get_codec(k, m)
        shard_hint = -(-size_hint // k) if size_hint > 0 else 0

        async def create(pos: int) -> tuple[str, object] | DriveError | None:
            drive = self.drives[pos]
            if drive is None:
                return None
            tmp = drive.new_tmp_path()
            try:
                return tmp, await drive.create_shard(paths.SYS_VOLUME, f"{tmp}/{name}", shard_hint)
            except DriveError as exc:
                log.warning("%s: cannot create shard on %s: %s", self, drive.endpoint, exc)
                return exc
        created = await asyncio.gather(*(create(pos) for pos in distribution))
        writers = [c[1] if isinstance(c, tuple) else None for c in created]
        tmp_dirs = {distribution[s]: c[0] for s, c in enumerate(created) if isinstance(c, tuple)}
        failures = [c for c in created if isinstance(c, DriveError)]
        return ErasureWriter(codec, writers, write_quorum(k, m), failures), tmp_dirs  # type: ignore[arg-type]

    async def open_version(self, bucket: str, key: str, view: MetaView, version: Version,
                           on_damage: Callable[[], None]) -> VersionReader:
        codec = get_codec(version.data_blocks, version.parity_blocks)
        layouts = [ShardLayout.of(codec, p.stored_size, version.block_size) for p in version.parts]
        holders = [view.agrees(pos) or view.holds(pos, version) for pos in range(self.n)]
        if version.inline:
            def loader(pos: int) -> Callable[[], bytes | None]:
                return lambda: view.inline_of(pos).get(version.data_id)
            sources: list[ShardSource | None] = [
                BytesSource(loader(pos)) if holders[pos] else None for pos in version.distribution]

            async def inline_opener(part: int) -> list[ShardSource | None]:
                return sources
            reader = VersionReader(codec, layouts, inline_opener, on_damage, in_memory=True)
            await reader.preopen(1)
            return reader
        base = f"{paths.data_container(key)}/{version.data_id}"
        numbers = [p.number for p in version.parts]

        async def opener(part: int) -> list[ShardSource | None]:
            return list(await asyncio.gather(*(
                self.open_shard(pos, bucket, f"{base}/part.{numbers[part]}") if holders[pos] else _none()
                for pos in version.distribution)))
        reader = VersionReader(codec, layouts, opener, on_damage)
        await reader.preopen(PREOPEN_PARTS)
        return reader

    async def open_shard(self, pos: int, volume: str, path: str) -> ShardSource | None:
        drive = self.drives[pos]
        if drive is None:
            return None
        try:
            return await drive.open_shard(volume, path)
        except DriveError:
            return None


async def _none() -> None:
    return None
