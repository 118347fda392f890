"""Sorted listing of one bucket directory on a local drive (runs in a drive thread).

Keys come out in UTF-8 byte order (Python compares str by code point, which is the same order), with a
directory sorting as its name plus ``/``. The ``.xl.cont`` directories of long names are read as part of
their parent (``drives/paths.py``), so a long key sorts by its whole name. Only directories that can hold
keys after ``marker`` and under ``prefix`` are entered, so a page of a large listing touches little more
than the page itself.
"""

from __future__ import annotations

import bisect
import collections
import operator
import os
import threading
import time

from storage_engine.drives import metafile, paths
from storage_engine.drives.base import WalkEntry
from storage_engine.drives.listing_index import ListingIndex

_META = paths.META_SUFFIX
_DATA = paths.DATA_SUFFIX
_CONT = paths.CONT_SUFFIX
_META_LEN = len(_META)
_CONT_LEN = len(_CONT)


def walk_volume(volume_root: str, prefix: str, marker: str, limit: int, delimited: bool,
                listing_index: ListingIndex | None = None) -> list[WalkEntry]:
    """``listing_index``: the drive's listing index, where it has one: big directories' headers come from it."""
    out: list[WalkEntry] = []
    if limit <= 0:
        return out
    directory, dir_key = paths.prefix_start_dir(prefix)
    path = os.path.join(volume_root, directory) if directory else volume_root
    _walk_dir(path, dir_key, prefix, marker, limit, delimited, out, listing_index)
    return out


# Sorted listings of big directories, with the meta headers read from them, reused across the pages of a
# listing and by later listings. A listing is valid while the directory's mtime is unchanged: every change
# of a meta file is a rename into its directory (drives/atomic.py), which sets that mtime. The kernel
# stamps a change with its coarse clock, so a listing is only cached when its directory's mtime is a tick
# older than that clock read before the stat: a later change then gets a later mtime, not an equal one. A
# whole-second mtime may come from a file system that keeps only seconds: such listings are not cached.
_CACHE: collections.OrderedDict[str, _Listing] = collections.OrderedDict()
_CACHE_DIRS = 32
_CACHE_MIN_ENTRIES = 256
_INDEX_MIN_ENTRIES = 256                # fewer meta files are read directly
_CACHE_HEADER_BYTES = 64 << 20         # headers kept over all cached listings
_COARSE_CLOCK = 5                      # CLOCK_REALTIME_COARSE (Linux): what the kernel stamps changes with
_TICK_NS = int(time.clock_getres(_COARSE_CLOCK) * 1e9)
_cache_lock = threading.Lock()         # walks run in several drive threads
_header_bytes = 0


def _clock_ns() -> int:
    return time.clock_gettime_ns(_COARSE_CLOCK)


class _Listing:
    __slots__ = ("stamp", "dir_key", "keys", "names", "dirs", "inodes", "records", "records_bytes", "walked",
                 "cached")

    def __init__(self, stamp: tuple[int, int], dir_key: str, keys: list[str], names: list[str],
                 dirs: list[bool] | None, inodes: dict[str, int],
                 records: tuple[dict[str, tuple[int, bytes]], int] | None) -> None:
        self.stamp = stamp
        self.dir_key = dir_key
        # The sorted keys, each entry's path relative to the directory, and whether it is a directory
        # (None: none is).
        self.keys = keys
        self.names = names
        self.dirs = dirs
        # The listing index's records, used for names whose file is still the recorded inode (from the
        # scan, made before the index was read: drives/listing_index.py).
        self.inodes = inodes
        self.records = records[0] if records is not None else None
        self.records_bytes = records[1] if records is not None else 0   # counted in the cache's budget
        # The walk entries of the keys whose headers were read, by entry index, while cached: a repeated
        # walk hands out the same objects (no file read, no allocation).
        self.walked: dict[int, WalkEntry] = {}
        self.cached = False

    def read(self, index: int, path: str) -> WalkEntry | None:
        """The walk entry of file entry ``index`` (``path`` is its directory), its header from the index
        or read from the file (None when the file vanished)."""
        name = self.names[index]
        record = self.records.get(name) if self.records is not None else None
        if record is not None and record[0] == self.inodes.get(name):
            return _walk_entry(WalkEntry, (self.keys[index], record[1]))
        header = _read_header(path + "/" + name)
        return _walk_entry(WalkEntry, (self.keys[index], header)) if header is not None else None

    def keep(self, read: dict[int, WalkEntry]) -> None:
        """Keep entries that ``read`` made, while this listing is cached (one lock for a walk's worth)."""
        global _header_bytes
        if not self.cached or not read:
            return
        size = sum([len(e[1] or b"") for e in read.values()])
        with _cache_lock:
            if self.cached and _header_bytes + size <= _CACHE_HEADER_BYTES:
                self.walked.update(read)
                _header_bytes += size


# WalkEntry(key, header) without the named tuple's keyword-handling constructor (a listing makes one per
# key per walked drive).
_walk_entry = tuple.__new__


def _evict(listing: _Listing) -> None:
    """(under _cache_lock) Drop a listing's headers from the budget."""
    global _header_bytes
    listing.cached = False
    _header_bytes -= sum(len(e.header or b"") for e in listing.walked.values()) + listing.records_bytes
    listing.walked = {}
    listing.records = None
    listing.records_bytes = 0


def _listing(path: str, dir_key: str, listing_index: ListingIndex | None) -> _Listing | None:
    global _header_bytes
    try:
        now = _clock_ns()
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_ino)
        with _cache_lock:
            cached = _CACHE.get(path)
            if cached is not None:
                if cached.stamp == stamp and cached.dir_key == dir_key:
                    _CACHE.move_to_end(path)
                    return cached
                _evict(_CACHE.pop(path))
        scanned: list[tuple[str, int]] = []
        if listing_index is None:
            names = os.listdir(path)
        else:
            scanned = [(e.name, e.inode()) for e in os.scandir(path)]   # inodes come free with the names
            names = [name for name, _ in scanned]
    except (FileNotFoundError, NotADirectoryError):
        return None
    keys, names, dirs, continued, metas = _sorted(path, dir_key, names)
    inodes: dict[str, int] = {}
    records = None
    if listing_index is not None and metas >= _INDEX_MIN_ENTRIES:
        inodes = dict(scanned)
        try:
            records = listing_index.records(path, metas)
        except OSError:
            pass                           # an index is a shortcut: read the files
    listing = _Listing(stamp, dir_key, keys, names, dirs, inodes, records)
    # A long name's .xl.cont directory changes without touching this one's mtime: such listings are
    # not cached.
    settled = stamp[0] + _TICK_NS <= now and stamp[0] % 1_000_000_000
    if not continued and len(keys) >= _CACHE_MIN_ENTRIES and settled:
        with _cache_lock:
            old = _CACHE.pop(path, None)
            if old is not None:
                _evict(old)
            listing.cached = True
            _CACHE[path] = listing
            _header_bytes += listing.records_bytes
            while len(_CACHE) > _CACHE_DIRS or (_header_bytes > _CACHE_HEADER_BYTES and len(_CACHE) > 1):
                _evict(_CACHE.popitem(last=False)[1])
    return listing


def _sorted(path: str, dir_key: str, names: list[str]) -> tuple[list[str], list[str], list[bool] | None, bool, int]:
    """The keys of ``names`` in ``path``, sorted, with their names and whether each is a directory (None:
    none is); whether a long name was met, and how many of ``names`` are meta files. Meta files are sorted
    by their keys as plain strings (a key's name sorts differently: "a.xl.meta" after "a-b.xl.meta"), and
    tuples are made only when the directory holds other entries: sorting them is several times slower."""
    metas = [name for name in names if name.endswith(_META)]
    metas.sort(key=_leaf)
    keys = [dir_key + name[:-_META_LEN] for name in metas]
    if len(metas) == len(names):
        return keys, metas, None, False, len(metas)
    others: list[tuple[str, str, bool]] = []
    continued = _others(path, dir_key, "", names, others)
    if not others:
        return keys, metas, None, continued, len(metas)
    entries = sorted([*zip(keys, metas, [False] * len(keys)), *others])
    return [e[0] for e in entries], [e[1] for e in entries], [e[2] for e in entries], continued, len(metas)


_leaf = operator.methodcaller("removesuffix", _META)


def _others(path: str, dir_key: str, rel: str, names: list[str], out: list[tuple[str, str, bool]]) -> bool:
    """Append (key, path relative to the listed directory, is directory) for the entries of ``names`` in
    ``path`` (``rel`` from the listed directory, "" or ending in "/") other than its own meta files and
    data directories: prefixes, and what long names' ``.xl.cont`` directories hold. Whether one was met."""
    continued = False
    for name in names:
        if name.endswith(_META):
            if rel:
                out.append((dir_key + name[:-_META_LEN], rel + name, False))
        elif name.endswith(_CONT):
            continued = True
            try:
                inner = os.listdir(path + "/" + name)
            except (FileNotFoundError, NotADirectoryError):
                continue                   # pruned by a concurrent delete
            _others(path + "/" + name, dir_key + name[:-_CONT_LEN], rel + name + "/", inner, out)
        elif not name.endswith(_DATA):
            out.append((dir_key + paths.decode_dir(name) + "/", rel + name, True))
    return continued


def _walk_dir(path: str, dir_key: str, prefix: str, marker: str, limit: int, delimited: bool,
              out: list[WalkEntry], listing_index: ListingIndex | None) -> None:
    listing = _listing(path, dir_key, listing_index)
    if listing is None:
        return
    read: dict[int, WalkEntry] = {}        # entries made by this walk, kept with the listing after it
    try:
        _walk_listing(listing, path, prefix, marker, limit, delimited, out, listing_index, read)
    finally:
        listing.keep(read)


def _walk_listing(listing: _Listing, path: str, prefix: str, marker: str, limit: int, delimited: bool,
                  out: list[WalkEntry], listing_index: ListingIndex | None, read: dict[int, WalkEntry]) -> None:
    keys, dirs = listing.keys, listing.dirs
    start = bisect.bisect_right(keys, marker)
    if start and dirs and dirs[start - 1] and marker.startswith(keys[start - 1]) and not (
            delimited and marker == keys[start - 1]):
        start -= 1                         # the directory the marker points into (or is, for "a/")
    start = max(start, bisect.bisect_left(keys, prefix))
    walked = listing.walked
    for index in range(start, len(keys)):
        if len(out) >= limit:
            return
        key = keys[index]
        if not key.startswith(prefix):
            if key > prefix:
                return                     # past every key with this prefix
            continue
        if dirs is None or not dirs[index]:
            found = walked.get(index)
            if found is None:
                found = listing.read(index, path)
                if found is None:
                    continue
                if found.header:
                    read[index] = found
            out.append(found)
        elif delimited:
            out.append(WalkEntry(key, None))
        else:
            _walk_dir(path + "/" + listing.names[index], key, prefix, marker, limit, delimited, out, listing_index)


def _read_header(path: str) -> bytes | None:
    """The verified header of a meta file; b"" when corrupt, None when it vanished."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return metafile.read_header(fd)
    except metafile.CorruptMetaFile:
        return b""
    except OSError:
        return None
    finally:
        os.close(fd)
