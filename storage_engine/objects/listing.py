"""Listing objects and versions: a sorted merge of drive walks, resolved to each key's quorum metadata.

Within a set, ``n - read_quorum + 1`` listable drives (online, not healing) are walked in parallel: a
version a read can find is on at least a read quorum of drives (its data blocks), so every key a GET
returns is on one of them, also one whose commit a crash cut short before it reached a write quorum.
A drive whose walk fails, or finds the bucket's directory missing (wiped), is replaced by another
listable drive; when too few remain the listing fails with InsufficientReadQuorum rather than come out
silently short (unless every listable drive lacks the bucket: a set of a pool added since holds none
of it). When the walked drives hold
identical metadata for a key (the normal case, compared as bytes without decoding), that is the answer;
otherwise the key is resolved by a full quorum read. Sets hold disjoint keys; their sorted streams are
merged. With delimiter ``/`` a directory becomes a common prefix without being walked, once a live
object under it is found.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import cast

from storage_engine.drives.metafile import CorruptMetaFile
from storage_engine.drives.base import Drive, DriveError, VolumeNotFound, WalkEntry, as_result
from storage_engine.errors import InsufficientReadQuorum
from storage_engine.erasure.metadata import Summary, Version, decode_header, decode_latest
from storage_engine.erasure.set import ErasureSet
from storage_engine.objects.types import ListedObject, ListObjectsResult, ListVersionsResult, ObjectInfo
from storage_engine.objects.versions import to_info

MAX_BATCH = 4096
# The latest version of recently listed headers, by header: a header is immutable bytes (any change is a new
# one), and the walker hands out the same objects while a directory is unchanged (drives/walk.py), so a
# repeated listing decodes nothing. Bounded; cleared whole when full.
_LATEST: dict[bytes, Summary] = {}
_LATEST_MAX = 32768

# An entry: (key, what the walked drives agree its header is), (key, its versions as the quorum read them,
# where they disagree) or (directory prefix ending in "/", None). Headers are decoded only as far as a
# listing needs, when it needs them.
Found = bytes | list[Version]
Entry = tuple[str, Found | None]


def _latest(found: Found) -> Summary:
    if found.__class__ is bytes:
        header = cast(bytes, found)
        summary = _LATEST.get(header)
        if summary is None:
            summary = decode_latest(header)
            if len(_LATEST) >= _LATEST_MAX:
                _LATEST.clear()
            _LATEST[header] = summary
        return summary
    v = cast(list[Version], found)[0]
    return Summary(v.version_id, v.mod_time, v.delete_marker, v.size, v.etag, v.storage_class, v.checksums,
                   v.checksum_type, v.owner)


def _versions(found: Found) -> list[Version]:
    return decode_header(found) if isinstance(found, bytes) else found


async def _set_entries(es: ErasureSet, bucket: str, prefix: str, marker: str, delimited: bool,
                       batch: int) -> AsyncIterator[Sequence[Entry]]:
    """The set's entries after ``marker``, a walk's worth (about ``batch``, doubling) per list: a step
    of an async generator per key would cost more than the rest of a cached listing's work."""
    listable = es.listable_drives()
    ask = es.listing_width
    if len(listable) < ask:
        raise InsufficientReadQuorum()
    drives = listable[:ask]
    spare = listable[ask:]
    cursor = marker
    while True:
        # Pages of a big listing after its first come from the drives' cached listings, in the loop.
        at_hand = [_walk_nowait(d, bucket, prefix, cursor, batch, delimited) for d in drives]
        slow = [i for i, r in enumerate(at_hand) if r is None]
        fetched = dict(zip(slow, await asyncio.gather(*(_walk(drives[i], bucket, prefix, cursor, batch, delimited)
                                                         for i in slow)))) if slow else {}
        results = [r if r is not None else fetched[i] for i, r in enumerate(at_hand)]
        no_volume = sum(isinstance(r, VolumeNotFound) for r in results)
        while any(isinstance(r, DriveError) for r in results) and spare:
            # A drive failed to list: ask another one instead, so every committed key is still seen.
            failed = [i for i, r in enumerate(results) if isinstance(r, DriveError)]
            for i in failed:
                if spare:
                    drives[i] = spare.pop(0)
                    results[i] = await _walk(drives[i], bucket, prefix, cursor, batch, delimited)
                    no_volume += isinstance(results[i], VolumeNotFound)
        walks = [r for r in results if not isinstance(r, DriveError)]
        if len(walks) < ask:
            if no_volume == len(listable):
                return                        # no drive of the set has the bucket (a pool added since)
            raise InsufficientReadQuorum()
        full = [w[-1][0] for w in walks if len(w) >= batch]
        # Beyond the first full walk's end, other drives' walks may be cut short: stop there.
        horizon = min(full) if full else None
        yield await _agreed_entries(es, bucket, walks, horizon)
        if horizon is None:
            return
        cursor = horizon
        batch = min(batch * 2, MAX_BATCH)


async def _agreed_entries(es: ErasureSet, bucket: str, walks: list[list[WalkEntry]],
                          horizon: str | None) -> Sequence[Entry]:
    """The entries of the drives' walks (up to ``horizon``) in key order: a key's header where every walk
    lists it with the same bytes, else the quorum's answer."""
    out: list[Entry] = []
    first = walks[0]
    if all(walk == first for walk in walks[1:]):
        # The common case: every walk lists the same keys with the same headers (the lists compared in C),
        # and none is corrupt (b""): the walk is the answer.
        if b"" not in map(_header, first):
            return first
        for key, header in first:
            if header:
                out.append((key, header))
            elif header is None:
                out.append((key, None))
            elif (found := await _resolve(es, bucket, key)) is not None:
                out.append((key, found))       # corrupt on every walked drive
        return out
    merged: dict[str, list[bytes | None]] = {}
    for walk in walks:
        for key, header in walk:
            if horizon is None or key <= horizon:
                merged.setdefault(key, []).append(header)
    for key in sorted(merged):
        headers = merged[key]
        first_header = headers[0]
        if first_header is None:
            out.append((key, None))
        elif first_header and len(headers) == len(walks) and all(h == first_header for h in headers):
            out.append((key, first_header))
        elif (found := await _resolve(es, bucket, key)) is not None:
            out.append((key, found))
    return out


async def _resolve(es: ErasureSet, bucket: str, key: str) -> list[Version] | None:
    """A key the walked drives disagree on: ask the quorum (InsufficientReadQuorum when it cannot say,
    rather than leave the key out)."""
    view = await es.get_meta(bucket, key)
    return view.versions if view is not None and view.versions else None


def _walk_nowait(drive: Drive, bucket: str, prefix: str, marker: str, limit: int,
                 delimited: bool) -> list[WalkEntry] | DriveError | None:
    """The drive's walk if it has it at hand (None: ask ``_walk``), or why it failed."""
    try:
        return drive.walk_nowait(bucket, prefix, marker, limit, delimited)
    except DriveError as exc:
        return as_result(exc)


async def _walk(drive: Drive, bucket: str, prefix: str, marker: str, limit: int,
                delimited: bool) -> list[WalkEntry] | DriveError:
    """The drive's walk, or why it failed (a checked drive fails it with VolumeNotFound when the
    bucket's directory is missing: a wiped drive must not pass for an empty bucket)."""
    try:
        return await drive.walk(bucket, prefix, marker, limit, delimited)
    except DriveError as exc:
        return as_result(exc)


def entries(sets: Sequence[ErasureSet], bucket: str, prefix: str, marker: str, delimited: bool,
            batch: int) -> AsyncIterator[Sequence[Entry]]:
    """Entries of all sets in key order, in lists; a key found in several pools is reported from the first."""
    batch = max(2, min(batch, MAX_BATCH))
    if len(sets) == 1:
        return _set_entries(sets[0], bucket, prefix, marker, delimited, batch)
    return _merge_sets(sets, bucket, prefix, marker, delimited, batch)


async def _merge_sets(sets: Sequence[ErasureSet], bucket: str, prefix: str, marker: str, delimited: bool,
                      batch: int) -> AsyncIterator[list[Entry]]:
    streams = [_one_by_one(_set_entries(es, bucket, prefix, marker, delimited, batch)) for es in sets]
    heads: list[Entry | None] = list(await asyncio.gather(*(anext(s, None) for s in streams)))
    last: str | None = None
    out: list[Entry] = []
    while True:
        live = [(h[0], i) for i, h in enumerate(heads) if h is not None]
        if not live:
            if out:
                yield out
            return
        _, index = min(live)
        head = heads[index]
        assert head is not None
        if head[0] != last:
            out.append(head)
            last = head[0]
            if len(out) >= batch:
                yield out
                out = []
        heads[index] = await anext(streams[index], None)


async def _one_by_one(batches: AsyncIterator[Sequence[Entry]]) -> AsyncIterator[Entry]:
    async for entries_ in batches:
        for entry in entries_:
            yield entry


async def _has_live_object(sets: Sequence[ErasureSet], bucket: str, directory: str, marker: str,
                           versions: bool) -> bool:
    """Whether a directory prefix holds anything to list (a live object; any version for versions)."""
    inner_marker = marker if marker.startswith(directory) else ""
    async for batch in entries(sets, bucket, directory, inner_marker, False, 4):
        for _key, found in batch:
            if found and (versions or not _latest(found).delete_marker):
                return True
    return False


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    index = key.find(delimiter, len(prefix))
    return key[:index + len(delimiter)] if index >= 0 else None


async def list_objects(sets: Sequence[ErasureSet], bucket: str, prefix: str, delimiter: str, marker: str,
                       max_keys: int) -> ListObjectsResult:
    result = ListObjectsResult([], [], False, None)
    if max_keys <= 0:
        return result
    count = 0
    last = ""
    async for batch in entries(sets, bucket, prefix, marker, delimiter == "/", max_keys + 1):
        for key, found in batch:
            latest: Summary | None = None
            if found is None:
                if key <= marker or not await _has_live_object(sets, bucket, key, marker, False):
                    continue
                common: str | None = key
            else:
                try:
                    latest = _latest(found)
                except CorruptMetaFile:
                    continue
                if latest.delete_marker:
                    continue
                common = _common_prefix(key, prefix, delimiter)
            if common is not None and (common == last or common <= marker):
                continue
            if count == max_keys:
                result.is_truncated = True
                result.next_marker = last
                return result
            if common is not None:
                result.prefixes.append(common)
                last = common
            elif latest is not None:
                result.objects.append(_listed_info(key, latest))
                last = key
            count += 1
    return result


def _listed_info(key: str, latest: Summary) -> ListedObject:
    return _new_tuple(ListedObject, (key, latest.mod_time, latest.size, latest.etag, latest.storage_class,
                                     latest.checksums, latest.checksum_type, latest.owner))


_new_tuple = tuple.__new__
_header = operator.itemgetter(1)


async def list_versions(sets: Sequence[ErasureSet], bucket: str, prefix: str, delimiter: str, key_marker: str,
                        version_id_marker: str, max_keys: int) -> ListVersionsResult:
    result = ListVersionsResult([], [], False, None, None)
    if max_keys <= 0:
        return result
    items = _version_items(sets, bucket, prefix, delimiter, key_marker, version_id_marker, max_keys)
    count = 0
    last_key: str | None = None
    last_version: str | None = None
    async for item in items:
        if count == max_keys:
            result.is_truncated = True
            result.next_key_marker = last_key
            result.next_version_id_marker = last_version
            break
        if isinstance(item, str):
            result.prefixes.append(item)
            last_key, last_version = item, None
        else:
            result.versions.append(item)
            last_key, last_version = item.key, item.version_id
        count += 1
    await items.aclose()
    return result


async def _version_items(sets: Sequence[ErasureSet], bucket: str, prefix: str, delimiter: str, key_marker: str,
                         version_id_marker: str, max_keys: int) -> AsyncGenerator[ObjectInfo | str, None]:
    """Versions (newest first per key) and common prefixes, in listing order, after the markers."""
    if key_marker and version_id_marker and key_marker.startswith(prefix):
        # Continue inside key_marker's own versions, after version_id_marker.
        view = await sets_view(sets, bucket, key_marker)
        if view is not None:
            ids = [v.version_id for v in view]
            if version_id_marker in ids:
                for i, v in enumerate(view[ids.index(version_id_marker) + 1:], ids.index(version_id_marker) + 1):
                    yield to_info(bucket, key_marker, v, i == 0)
    last_prefix = ""
    async for batch in entries(sets, bucket, prefix, key_marker, delimiter == "/", max_keys + 1):
        for key, found in batch:
            if found is None:
                if key <= key_marker or not await _has_live_object(sets, bucket, key, key_marker, True):
                    continue
                common: str | None = key
            else:
                common = _common_prefix(key, prefix, delimiter)
            if common is not None:
                if common != last_prefix and common > key_marker:
                    last_prefix = common
                    yield common
                continue
            try:
                found_versions = _versions(found) if found else []
            except CorruptMetaFile:
                continue
            for i, v in enumerate(found_versions):
                yield to_info(bucket, key, v, i == 0)


async def sets_view(sets: Sequence[ErasureSet], bucket: str, key: str) -> list[Version] | None:
    for es in sets:
        view = await es.get_meta(bucket, key)
        if view is not None:
            return view.versions
    return None
