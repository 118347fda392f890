"""Healing one key in one erasure set: missing or rotten shards rebuilt, stale metadata rewritten.

1. Read every drive's metadata and resolve the quorum view. Metadata that no quorum backs (the remains
   of a write that never committed, or of a delete a drive missed) is removed.
2. Check every shard of every version on every drive: inline shards and shard files are read whole and
   every record's bitrot hash verified.
3. Rebuild bad shard files block by block from ``k`` good shards (``reconstruct`` rebuilds only the
   missing fragments) into a temporary file, and rename it into place under the key lock, after
   checking the version is still there. Rebuilt inline shards go into the drive's metadata.
4. Rewrite the metadata of drives that were stale or got inline shards, if nobody changed the key
   meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from storage_engine.drives import metafile, paths
from storage_engine.drives.base import Drive, DriveError, ShardWriter
from storage_engine.drives.health import CheckedDrive
from storage_engine.errors import InsufficientReadQuorum
from storage_engine.erasure.bitrot import ShardLayout, digest, split_records
from storage_engine.erasure.codec import Codec, get_codec
from storage_engine.erasure.metadata import Version, encode_inline, find
from storage_engine.erasure.reader import BytesSource, ShardSource
from storage_engine.erasure.set import ErasureSet, MetaView

log = logging.getLogger(__name__)

VERIFY_BLOCKS = 4


@dataclass(slots=True)
class ObjectHealResult:
    shards_rebuilt: int = 0
    metadata_repaired: int = 0
    failed: bool = False
    bytes_rebuilt: int = 0      # bytes of the shards rebuilt (the rustfs_heal_bytes_healed_total metric)
    details: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.shards_rebuilt or self.metadata_repaired)


async def heal_object(es: ErasureSet, bucket: str, key: str) -> ObjectHealResult:
    result = ObjectHealResult()
    meta_path = paths.meta_path(key)
    raw = await es.read_raw(bucket, meta_path)
    try:
        view = es.resolve(raw)
    except InsufficientReadQuorum:
        result.failed = True
        result.details.append(f"{bucket}/{key}: not enough drives agree on its metadata")
        return result
    if view is None:
        await _remove_dangling(es, bucket, key, result)
        return result
    inline_fixes: dict[int, dict[str, bytes]] = {}
    for version in view.versions:
        if version.delete_marker or version.tier is not None:
            continue                       # no shards here: the metadata (healed below) is all there is
        try:
            await _heal_version(es, bucket, key, view, version, result, inline_fixes)
        except (InsufficientReadQuorum, DriveError, ValueError) as exc:
            result.failed = True
            result.details.append(f"{bucket}/{key} version {version.version_id}: cannot rebuild ({exc})")
    stale = [pos for pos in range(es.n) if es.drives[pos] is not None and not view.agrees(pos)]
    targets = sorted(set(stale) | set(inline_fixes))
    if targets:
        await _rewrite_meta(es, bucket, key, view, targets, inline_fixes, result)
    await _remove_orphans(es, bucket, key, view, result)
    return result


async def _remove_orphans(es: ErasureSet, bucket: str, key: str, view: MetaView, result: ObjectHealResult) -> None:
    """Delete data dirs no version refers to (left by a crash between moving data in and committing)."""
    container = paths.data_container(key)

    async def orphans(live: set[str]) -> list[tuple[int, str]]:
        found = []
        for pos, drive in enumerate(es.drives):
            if drive is None:
                continue
            try:
                names = await drive.list_dir(bucket, container)
            except DriveError:
                continue
            found += [(pos, name) for name in names if name not in live]
        return found
    if not await orphans({v.data_id for v in view.versions if v.has_data}):
        return
    async with es.lock(bucket, key):     # commits move data in under this lock: now nothing is in flight
        current = await es.get_meta(bucket, key)
        live = {v.data_id for v in current.versions if v.has_data} if current else set()
        removed = 0
        for pos, name in await orphans(live):
            drive = es.drives[pos]
            assert drive is not None
            try:
                await drive.delete(bucket, f"{container}/{name}", recursive=True)
                removed += 1
            except DriveError:
                pass
        if removed:
            result.metadata_repaired += removed
            result.details.append(f"{bucket}/{key}: removed {removed} unreferenced data dir(s)")


async def _remove_dangling(es: ErasureSet, bucket: str, key: str, result: ObjectHealResult) -> None:
    meta_path = paths.meta_path(key)
    async with es.lock(bucket, key):
        raw = await es.read_raw(bucket, meta_path)
        try:
            if es.resolve(raw) is not None:
                return
        except InsufficientReadQuorum:
            return
        present = [pos for pos, r in enumerate(raw) if isinstance(r, bytes)]
        for pos in present:
            drive = es.drives[pos]
            assert drive is not None
            try:
                await drive.delete(bucket, meta_path)
                await drive.delete(bucket, paths.data_container(key), recursive=True)
                result.metadata_repaired += 1
            except DriveError as exc:
                result.failed = True
                result.details.append(f"{bucket}/{key}: cannot remove dangling metadata on {drive.endpoint}: {exc}")
        if present:
            result.details.append(f"{bucket}/{key}: removed uncommitted metadata from {len(present)} drive(s)")


async def _heal_version(es: ErasureSet, bucket: str, key: str, view: MetaView, version: Version,
                        result: ObjectHealResult, inline_fixes: dict[int, dict[str, bytes]]) -> None:
    codec = get_codec(version.data_blocks, version.parity_blocks)
    layouts = [ShardLayout.of(codec, p.stored_size, version.block_size) for p in version.parts]
    if version.inline:
        sources: list[ShardSource | None] = []
        for pos in version.distribution:
            shard = view.inline_of(pos).get(version.data_id) if view.holds(pos, version) else None
            sources.append(BytesSource(shard) if shard is not None else None)
        bad = [s for s, src in enumerate(sources)
               if es.drives[version.distribution[s]] is not None and not await _verify(src, layouts[0])]
        if not bad:
            return
        rebuilt = await _rebuild(codec, layouts[0], sources, bad, None)
        for s, shard in rebuilt.items():
            inline_fixes.setdefault(version.distribution[s], {})[version.data_id] = shard
        result.shards_rebuilt += len(rebuilt)
        result.bytes_rebuilt += sum(len(shard) for shard in rebuilt.values())
        result.details.append(f"{bucket}/{key} version {version.version_id}: rebuilt {len(rebuilt)} inline shard(s)")
        return
    base = f"{paths.data_container(key)}/{version.data_id}"
    for part, layout in zip(version.parts, layouts):
        path = f"{base}/part.{part.number}"

        async def install(tmp_files: dict[int, str], path: str = path) -> int:
            return await _install(es, bucket, key, version, path, tmp_files)
        moved = await heal_shard_file(es, codec, layout, version.distribution, bucket, path, install, result)
        result.shards_rebuilt += moved
        result.bytes_rebuilt += moved * layout.file_size
        if moved:
            result.details.append(f"{bucket}/{key} version {version.version_id} part {part.number}: "
                                  f"rebuilt {moved} shard(s)")


Install = Callable[[dict[int, str]], Awaitable[int]]


async def heal_shard_file(es: ErasureSet, codec: Codec, layout: ShardLayout, distribution: list[int], volume: str,
                          path: str, install: Install, result: ObjectHealResult) -> int:
    """Verify the shard file ``path`` on every drive of ``distribution``; rebuild the bad ones on drives
    that take writes into temporary files and pass them (shard index -> tmp dir holding ``part``) to
    ``install``, which moves them into place if still wanted and returns how many it moved. A drive that
    is offline cannot be healed now: that marks ``result`` failed, the others are healed anyway."""
    sources = [await es.open_shard(pos, volume, path) for pos in distribution]
    try:
        bad = [s for s, src in enumerate(sources)
               if es.drives[distribution[s]] is not None and not await _verify(src, layout)]
        unreachable = [s for s in bad if not takes_writes(es.drives[distribution[s]])]
        if unreachable:
            result.failed = True
            result.details.append(f"{volume}/{path}: {len(unreachable)} drive(s) offline, healed when they return")
        bad = [s for s in bad if s not in unreachable]
        if not bad:
            return 0
        writers: dict[int, tuple[str, ShardWriter]] = {}
        try:
            for s in bad:
                drive = es.drives[distribution[s]]
                assert drive is not None
                tmp = drive.new_tmp_path()
                writers[s] = (tmp, await drive.create_shard(paths.SYS_VOLUME, f"{tmp}/part", layout.file_size))
            await _rebuild(codec, layout, sources, bad, {s: w for s, (_, w) in writers.items()})
        except BaseException:
            for _, writer in writers.values():
                await writer.abort()
            raise
        return await install({s: t for s, (t, _) in writers.items()})
    finally:
        for src in sources:
            if src is not None:
                src.close()


def takes_writes(drive: Drive | None) -> bool:
    """Whether a drive can be healed now (online or healing)."""
    return drive is not None and (not isinstance(drive, CheckedDrive) or drive.online)


async def _verify(source: ShardSource | None, layout: ShardLayout) -> bool:
    """Whether a shard is complete and every record passes its bitrot check."""
    if source is None:
        return False
    if layout.blocks == 0:
        return True
    for first in range(0, layout.blocks, VERIFY_BLOCKS):
        last = min(first + VERIFY_BLOCKS, layout.blocks) - 1
        offset, length = layout.span(first, last)
        try:
            data = await source.read_at(offset, length)
        except (DriveError, OSError):
            return False
        if split_records(data, layout, first, last) is None:
            return False
    # A longer file than expected is damage too (a torn or foreign write).
    tail = await _safe_read(source, layout.file_size, 1)
    return not tail


async def _safe_read(source: ShardSource, offset: int, length: int) -> bytes | bytearray:
    try:
        return await source.read_at(offset, length)
    except (DriveError, OSError):
        return b""


async def _rebuild(codec: Codec, layout: ShardLayout, sources: list[ShardSource | None], bad: list[int],
                   writers: dict[int, ShardWriter] | None) -> dict[int, bytes]:
    """Reconstruct shards ``bad`` from good ones; into ``writers``, or returned (inline)."""
    good = [s for s in range(len(sources)) if s not in bad and sources[s] is not None]
    out: dict[int, list[bytes]] = {s: [] for s in bad}
    for first in range(0, layout.blocks, VERIFY_BLOCKS):
        last = min(first + VERIFY_BLOCKS, layout.blocks) - 1
        offset, length = layout.span(first, last)
        fragments: dict[int, list[memoryview]] = {}
        for s in good:
            if len(fragments) == codec.k:
                break
            source = sources[s]
            assert source is not None
            frags = split_records(await _safe_read(source, offset, length), layout, first, last)
            if frags is not None:
                fragments[s] = frags
        if len(fragments) < codec.k:
            raise InsufficientReadQuorum()
        for j in range(last - first + 1):
            rebuilt = codec.reconstruct({s: f[j] for s, f in fragments.items()}, bad)
            for s, fragment in rebuilt.items():
                record = (digest(fragment), fragment)
                if writers is not None:
                    await writers[s].write(record[0])
                    await writers[s].write(record[1])
                else:
                    out[s].extend(record)
    if writers is not None:
        await asyncio.gather(*(w.close() for w in writers.values()))
        return {}
    return {s: b"".join(chunks) for s, chunks in out.items()}


async def _install(es: ErasureSet, bucket: str, key: str, version: Version, path: str,
                   tmp_files: dict[int, str]) -> int:
    """Rename rebuilt shard files into place if the version still exists; returns how many."""
    async with es.lock(bucket, key):
        view = await es.get_meta(bucket, key)
        current = find(view.versions, version.version_id) if view else None
        alive = current is not None and current.same_data(version)
        return await install_shards(es, version.distribution, tmp_files, bucket, path, alive)


async def install_shards(es: ErasureSet, distribution: list[int], tmp_files: dict[int, str], volume: str,
                         path: str, wanted: bool) -> int:
    """Rename rebuilt shard files (shard index -> tmp dir) to ``path`` when ``wanted``, drop the tmp dirs
    either way (the caller holds the key lock and checked what ``wanted`` says); returns how many moved."""
    moved = 0
    for s, tmp in tmp_files.items():
        drive = es.drives[distribution[s]]
        assert drive is not None
        try:
            if wanted:
                await drive.rename(paths.SYS_VOLUME, f"{tmp}/part", volume, path)
                moved += 1
            await drive.delete(paths.SYS_VOLUME, tmp, recursive=True)
        except DriveError as exc:
            log.warning("heal %s/%s: cannot install shard on %s: %s", volume, path, drive.endpoint, exc)
    return moved


async def _rewrite_meta(es: ErasureSet, bucket: str, key: str, view: MetaView, targets: list[int],
                        inline_fixes: dict[int, dict[str, bytes]], result: ObjectHealResult) -> None:
    meta_path = paths.meta_path(key)
    inline_ids = {v.data_id for v in view.versions if v.inline and not v.delete_marker}
    async with es.lock(bucket, key):
        current = await es.get_meta(bucket, key)
        if current is None or current.header != view.header:
            return                         # changed meanwhile: the next pass will look again
        for pos in targets:
            drive = es.drives[pos]
            if drive is None:
                continue
            inline = {i: s for i, s in current.inline_of(pos).items() if i in inline_ids}
            inline.update(inline_fixes.get(pos, {}))
            try:
                await drive.write_file(bucket, meta_path, metafile.pack(current.header, encode_inline(inline)))
            except DriveError as exc:
                result.failed = True
                result.details.append(f"{bucket}/{key}: cannot write metadata on {drive.endpoint}: {exc}")
                continue
            if not view.agrees(pos):
                result.metadata_repaired += 1
        if any(not view.agrees(p) for p in targets):
            result.details.append(f"{bucket}/{key}: repaired metadata on "
                                  f"{sum(not view.agrees(p) for p in targets)} drive(s)")
