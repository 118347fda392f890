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


class WouldBlock(Exception):
    """A walk that may not wait met a directory or a header it would have to read from the drive."""


def walk_volume(volume_root: str, prefix: str, marker: str, limit: int, delimited: bool,
                listing_index: ListingIndex | None = None, *, nowait: bool = False) -> list[WalkEntry]:
    """``listing_index``: the drive's listing index, where it has one: big directories' headers come from it.
    ``nowait``: only from cached listings, for the event loop (a page of a big listing after its first);
    raises WouldBlock when the walk would scan a directory or read a file."""
    out: list[WalkEntry] = []
    if limit <= 0:
        return out
    directory, dir_key = paths.prefix_start_dir(prefix)
    path = os.path.join(volume_root, directory) if directory else volume_root
    _walk_dir(path, dir_key, prefix, marker, limit, delimited, out, listing_index, nowait)
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
_SETTLE_DIR_SIZE = 8 << 10             # a directory bigger than this (bytes: ~250 keys) may be worth a wait to cache
_COARSE_CLOCK = 5                      # CLOCK_REALTIME_COARSE (Linux): what the kernel stamps changes with
_TICK_NS = int(time.clock_getres(_COARSE_CLOCK) * 1e9)
_cache_lock = threading.Lock()         # walks run in several drive threads
_header_bytes = 0


def _clock_ns() -> int:
    return time.clock_gettime_ns(_COARSE_CLOCK)


_sleep = time.sleep


class _Listing:
    __slots__ = ("stamp", "dir_key", "keys", "names", "dirs", "dir_indexes", "inodes", "records",
                 "records_bytes", "entries", "entries_bytes", "cached")

    def __init__(self, stamp: tuple[int, int], dir_key: str, keys: list[str], names: list[str],
                 dirs: list[bool] | None, inodes: dict[str, int],
                 records: tuple[dict[str, tuple[int, bytes]], int] | None) -> None:
        self.stamp = stamp
        self.dir_key = dir_key
        # The sorted keys, each entry's path relative to the directory, and whether it is a directory
        # (None: none is), with the indexes of the directories, in order.
        self.keys = keys
        self.names = names
        self.dirs = dirs
        self.dir_indexes = [i for i, d in enumerate(dirs) if d] if dirs is not None else []
        # The listing index's records, used for names whose file is still the recorded inode (from the
        # scan, made before the index was read: drives/listing_index.py).
        self.inodes = inodes
        self.records = records[0] if records is not None else None
        self.records_bytes = records[1] if records is not None else 0   # counted in the cache's budget
        # Each file entry's walk entry once a walk made it (None before; _GONE: the file vanished), kept
        # while cached: a repeated walk hands out the same objects, a slice at a time.
        self.entries: list[WalkEntry | None] = [None] * len(keys)
        self.entries_bytes = 0
        self.cached = False

    def files(self, start: int, end: int, limit: int, path: str, out: list[WalkEntry], nowait: bool) -> int:
        """Append the walk entries of file entries ``start`` to ``end`` (exclusive), at most as many as
        ``out`` lacks of ``limit`` (fewer when files vanished); returns the index after the last one used.
        A slice at a time: a listing makes one entry per key per walked drive, and a loop in Python per
        key was most of a listing's cost."""
        stop = min(end, start + limit - len(out))
        chunk = self.entries[start:stop]
        if None in chunk:
            chunk = self._make(start, stop, path, nowait)
        if _GONE in chunk:
            chunk = [e for e in chunk if e is not _GONE]
        out.extend(chunk)
        return stop

    def _make(self, start: int, stop: int, path: str, nowait: bool) -> list[WalkEntry]:
        """The walk entries of file entries ``start`` to ``stop``: headers from the listing index where it
        records the inode the name has now, else read from the file. Kept while the listing is cached."""
        names = self.names[start:stop]
        records, inodes = self.records, self.inodes
        if records is None:
            headers: list[bytes | None] = [None] * len(names)
        else:
            headers = [r[1] if (r := records.get(n)) is not None and r[0] == inodes.get(n) else None
                       for n in names]
        gone: list[int] = []
        if None in headers:
            if nowait:
                raise WouldBlock(path)
            for i, header in enumerate(headers):
                if header is None:
                    header = _read_header(path + "/" + names[i])
                    if header is None:
                        gone.append(i)
                    headers[i] = header
        made: list[WalkEntry] = list(zip(self.keys[start:stop], headers))
        for i in gone:
            made[i] = _GONE
        if self.cached:
            size = sum([len(h) for h in headers if h])
            with _cache_lock:
                global _header_bytes
                if self.cached and _header_bytes + size <= _CACHE_HEADER_BYTES:
                    self.entries[start:stop] = made
                    self.entries_bytes += size
                    _header_bytes += size
        return made


_GONE: WalkEntry = ("", None)           # marks a file that vanished


def _evict(listing: _Listing) -> None:
    """(under _cache_lock) Drop a listing's headers from the budget."""
    global _header_bytes
    listing.cached = False
    _header_bytes -= listing.entries_bytes + listing.records_bytes
    listing.entries_bytes = 0
    listing.records = None
    listing.records_bytes = 0


def _listing(path: str, dir_key: str, listing_index: ListingIndex | None, nowait: bool) -> _Listing | None:
    global _header_bytes
    if nowait and path not in _CACHE:
        raise WouldBlock(path)             # (a small directory's listing is never cached: no stat for it)
    try:
        now, st = _settled_stat(path) if not nowait else (0, os.stat(path))
        stamp = (st.st_mtime_ns, st.st_ino)
        with _cache_lock:
            cached = _CACHE.get(path)
            if cached is not None:
                if cached.stamp == stamp and cached.dir_key == dir_key:
                    _CACHE.move_to_end(path)
                    return cached
                if not nowait:
                    _evict(_CACHE.pop(path))
        if nowait:
            raise WouldBlock(path)
        inodes: dict[str, int] = {}
        if listing_index is None:
            names = os.listdir(path)
        else:
            inodes = {e.name: e.inode() for e in os.scandir(path)}   # inodes come free with the names
            names = list(inodes)
    except (FileNotFoundError, NotADirectoryError):
        return None
    keys, names, dirs, continued, metas = _sorted(path, dir_key, names)
    records = None
    if listing_index is not None and metas >= _INDEX_MIN_ENTRIES:
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


def _settled_stat(path: str) -> tuple[int, os.stat_result]:
    """The clock, then the directory's stat. A big directory changed within the clock's last tick could
    not have its listing cached, and each page of a listing would scan it again (a listing right after a
    burst of writes): wait for the tick to pass first, a tick or two at most."""
    now = _clock_ns()
    st = os.stat(path)
    for _ in range(3):
        wait = st.st_mtime_ns + _TICK_NS - now
        if wait <= 0 or st.st_size <= _SETTLE_DIR_SIZE or not st.st_mtime_ns % 1_000_000_000:
            break
        _sleep(min(wait, _TICK_NS) / 1e9)
        now = _clock_ns()
        st = os.stat(path)
    return now, st


def _sorted(path: str, dir_key: str, names: list[str]) -> tuple[list[str], list[str], list[bool] | None, bool, int]:
    """The keys of ``names`` in ``path``, sorted, with their names and whether each is a directory (None:
    none is); whether a long name was met, and how many of ``names`` are meta files. Meta files are sorted
    by their keys as plain strings (a key's name sorts differently: "a.xl.meta" after "a-b.xl.meta"), and
    tuples are made only when the directory holds other entries: sorting them is several times slower."""
    metas = [name for name in names if name.endswith(_META)]
    keys, metas = _sorted_metas(dir_key, metas)
    if len(metas) == len(names):
        return keys, metas, None, False, len(metas)
    others: list[tuple[str, str, bool]] = []
    continued = _others(path, dir_key, "", names, others)
    if not others:
        return keys, metas, None, continued, len(metas)
    entries = sorted([*zip(keys, metas, [False] * len(keys)), *others])
    return [e[0] for e in entries], [e[1] for e in entries], [e[2] for e in entries], continued, len(metas)


_leaf = operator.methodcaller("removesuffix", _META)

# The sorted meta files of the last directories sorted, by key prefix and count, with their names as a set:
# a listing walks several drives of a set at once, which hold the same names; each sorted them again.
_SORTED: collections.OrderedDict[tuple[str, int], tuple[frozenset[str], list[str], list[str]]] = \
    collections.OrderedDict()
_SORTED_DIRS = 4
_SORTED_MAX_NAMES = 1 << 16            # bigger directories are sorted each time (their sets cost memory)
_sorted_lock = threading.Lock()


def _sorted_metas(dir_key: str, metas: list[str]) -> tuple[list[str], list[str]]:
    """The keys of the meta files ``metas`` in key order, and the files in that order (lists to be shared,
    never changed)."""
    if not _CACHE_MIN_ENTRIES <= len(metas) <= _SORTED_MAX_NAMES:
        metas.sort(key=_leaf)
        return [dir_key + name[:-_META_LEN] for name in metas], metas
    memo_key = (dir_key, len(metas))
    with _sorted_lock:
        found = _SORTED.get(memo_key)
    names = frozenset(metas)
    if found is not None and found[0] == names:
        return found[1], found[2]
    metas.sort(key=_leaf)
    keys = [dir_key + name[:-_META_LEN] for name in metas]
    with _sorted_lock:
        _SORTED[memo_key] = (names, keys, metas)
        _SORTED.move_to_end(memo_key)
        while len(_SORTED) > _SORTED_DIRS:
            _SORTED.popitem(last=False)
    return keys, metas


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
              out: list[WalkEntry], listing_index: ListingIndex | None, nowait: bool) -> None:
    listing = _listing(path, dir_key, listing_index, nowait)
    if listing is None:
        return
    keys, dirs = listing.keys, listing.dirs
    start = bisect.bisect_right(keys, marker)
    if start and dirs and dirs[start - 1] and marker.startswith(keys[start - 1]) and not (
            delimited and marker == keys[start - 1]):
        start -= 1                         # the directory the marker points into (or is, for "a/")
    start = max(start, bisect.bisect_left(keys, prefix))
    # The keys under prefix are the ones from start on that begin with it (sorted: they are together).
    end = bisect.bisect_left(keys, True, start, key=lambda k: not k.startswith(prefix)) if prefix else len(keys)
    dir_indexes = listing.dir_indexes
    index = start
    while index < end and len(out) < limit:
        d = bisect.bisect_left(dir_indexes, index)
        next_dir = dir_indexes[d] if d < len(dir_indexes) else end
        index = listing.files(index, min(next_dir, end), limit, path, out, nowait)
        if index < next_dir or index == end or len(out) >= limit:
            continue                       # stopped at the limit or the end
        if delimited:
            out.append((keys[index], None))
        else:
            _walk_dir(path + "/" + listing.names[index], keys[index], prefix, marker, limit, delimited, out,
                      listing_index, nowait)
        index += 1


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
