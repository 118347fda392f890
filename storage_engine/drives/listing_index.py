"""A drive's listing index: the meta headers of a big bucket directory in one file, kept by the write path.

A first listing of a directory of 10,000 keys otherwise opens and reads 10,000 meta files on each walked
drive. Here every meta write first appends ``(name, inode, header)`` to the index of its directory
(``.rustfs.sys/listing/<hash of the directory>``), then renames the file into place. A walk reads the
directory with ``scandir``, which gives each entry's inode for free, and the index in one read, and takes a
header from the index only when the newest record for that name carries the inode the name has now.

Why the inode check is enough: a name only ever comes to point at an inode through a rename that was
preceded by a record of that inode and its content, so the newest record of a name is at least as new as
the rename the walk saw (the walk reads the directory first, then the index). A record whose rename never
happened, or has not happened yet, carries another inode and is ignored (the file is read instead), even
when a recycled inode comes back to the same name (``drives/atomic.py``): the record written for that
return is the newest. Records are only lost where nothing is trusted afterwards:

- the index is not flushed, so a power loss can drop its tail: it records the boot it was written in, and
  an index of an earlier boot is not used (it is rebuilt);
- creating, rewriting or removing the index holds its lock file exclusively, and a writer holds it
  shared from its append to its rename, so an append always lands in the current index, and a rebuild
  never sees a record whose rename is still to come. An append that finds none records nothing: whoever
  builds the next one reads the files.

An index is built, and rebuilt when most of it is old records, by a background thread of the process that
noticed (a writer, when the directory grows past ``CREATE_DIR_SIZE``, or a listing that found records
missing): it reads the files without holding writers off, then trusts what it read only if its own index
file, made before, is still the index (every rename since was recorded there, and a newer record wins).
Until then a listing reads the files it has no record for, as without an index. An index goes with its
directory (the delete that prunes the directory removes it); a drive removes the indexes of earlier boots
when it starts (those of a deleted bucket's directories wait for that).

Appends are single ``write`` calls with ``O_APPEND``, so concurrent writers (worker processes) never
interleave; a reader may see a partly written last record, which it leaves for its next read. A rebuilt
index starts with its records as one checksummed msgpack map, which a walk parses in C (10,000 records:
about 4 ms, against 17-29 ms record by record in Python); the appends after it are parsed one by one. Each
process that appends keeps its own parse of the index within ``_WARM_BYTES`` of the end, in the background,
so a listing right after a burst of writes (by any worker) parses only the last few records. Small
directories get no index: their files are read as before. Only a drive whose ``scandir`` inodes are the
files' own (not, say, some overlay file systems) uses one.
"""

from __future__ import annotations

import collections
import fcntl
import logging
import os
import queue
import struct
import threading
import uuid
from collections.abc import Callable
from typing import cast

import msgpack
import xxhash

from storage_engine.drives import metafile, paths

log = logging.getLogger(__name__)

_MAGIC = b"RSLI2"
_RECORD = struct.Struct("<IHQ")       # record length, name length, inode; then name, header
_HEAD_LEN = len(_MAGIC) + 32          # magic, boot id, this file's id
_SNAPSHOT = struct.Struct("<QQ")      # after the head: the snapshot's length and xxh3-64; then the snapshot
CREATE_DIR_SIZE = 8 << 10             # a directory this big (bytes of entries, ~300 keys) gets an index ...
_MAX_DIR_SIZE = 1 << 20               # ... and none past this one (~40,000 keys): their pages read files
MAX_ENTRIES = 50_000                  # meta files in a directory whose index a listing uses
_REBUILD_SIZE = 8 << 20               # past this, an index is rebuilt when bigger than this many bytes
_REBUILD_PER_DIR_BYTE = 64            # per byte of its directory (most of it is old records)
_SNAPSHOT_MIN = 256 << 10             # an index this big is rebuilt into a snapshot each time it doubles
_MAX_SIZE = 32 << 20                  # past this, it is removed
_PARSED_BYTES = 64 << 20              # parsed indexes kept per process
_WARM_BYTES = 64 << 10                # a writer has its process parse an index's appends past this many


def _boot_id() -> bytes | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return uuid.UUID(f.read().strip()).bytes
    except (OSError, ValueError):
        return None


_BOOT = _boot_id()


class _Parsed:
    __slots__ = ("head", "offset", "total", "records")

    def __init__(self, head: bytes) -> None:
        self.head = head                   # the file's first bytes, with its id
        self.offset = 0
        self.total = 0                     # records in the file: those of records, and older ones
        self.records: dict[str, tuple[int, bytes]] = {}


_parsed: collections.OrderedDict[str, _Parsed] = collections.OrderedDict()
_parsed_bytes = 0
_parsed_lock = threading.Lock()


def usable(directory: str) -> bool:
    """Whether a drive can keep listing indexes: the boot is known, and ``scandir`` reports a file's own
    inode number under ``directory`` (a scratch file is made there)."""
    if _BOOT is None:
        return False
    probe = os.path.join(directory, f"ino-probe-{uuid.uuid4().hex}")
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        real = os.fstat(fd).st_ino
        return any(e.name == os.path.basename(probe) and e.inode() == real for e in os.scandir(directory))
    finally:
        os.close(fd)
        os.unlink(probe)


class ListingIndex:
    """The listing indexes of one drive (``root``)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.sys_root = os.path.join(root, paths.SYS_VOLUME) + "/"
        self.dir = os.path.join(root, paths.SYS_VOLUME, paths.LISTING_DIR)

    def _path(self, directory: str) -> str:
        """The index of ``directory`` (under ``root``), named by its path within the drive: a drive mounted
        elsewhere keeps its indexes."""
        return os.path.join(self.dir, xxhash.xxh64_hexdigest(os.fsencode(directory[len(self.root):])))

    # --- the write path -----------------------------------------------------------------------------
    def record(self, directory: str, files: list[tuple[str, int, bytes]]) -> _Lock | None:
        """Note that each of ``files`` (name, open fd, framed content) in ``directory``, those that are a key's
        meta file, is about to become the file open as its fd. Call before the renames; an OSError means they
        must not happen. Returns the index's shared lock, still held when records were made: release it once
        the renames are done, so that a rebuild (which takes it exclusively) never sees a record whose rename
        is still to come. Concurrent commits into one directory (a batch of the committer) share one append."""
        if (directory + "/").startswith(self.sys_root):
            return None
        files = [f for f in files if f[0].endswith(paths.META_SUFFIX)]
        if not files:
            return None
        index = self._path(directory)
        if not os.path.exists(index):
            size = _dir_size(directory)
            if size < CREATE_DIR_SIZE or size > _MAX_DIR_SIZE:
                return None                # small (or still to be made by the rename), or too big
            with _Lock(index, fcntl.LOCK_EX):
                if not os.path.exists(index):
                    self._publish(index, {})
            self.schedule(directory)       # filled in from the files, in the background
        lock = _Lock(index, fcntl.LOCK_SH).acquire()
        try:
            try:
                fd = os.open(index, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            except FileNotFoundError:
                lock.release()
                return None                # reset meanwhile: nothing to keep up to date
            try:
                st = os.fstat(fd)
                size = st.st_size
                if size <= _MAX_SIZE:
                    # One write with O_APPEND: never interleaved with another.
                    records = b"".join([_encode(name, os.fstat(meta_fd).st_ino, _header_of(meta))
                                        for name, meta_fd, meta in files])
                    os.write(fd, records)
                    tail = size - _snapshot_end(index, fd, st.st_ino)
                    if size > _REBUILD_SIZE and size > _REBUILD_PER_DIR_BYTE * _dir_size(directory):
                        self.schedule(directory)   # mostly old records by now
                    elif tail <= max(size - tail, _SNAPSHOT_MIN) < tail + len(records):
                        # The appends since the snapshot (parsed one by one) outgrew it: rebuild. Once per
                        # crossing, so an index of overwritten keys, whose rebuilds come back to the same
                        # size, is rebuilt once per snapshot's worth of appends, not at every crossing
                        # of a fixed size.
                        self.schedule(directory)
                    self._keep_parsed(index, st.st_ino, size + len(records))
                    return lock
            finally:
                os.close(fd)
        except BaseException:
            lock.release()
            raise
        lock.release()
        with _Lock(index, fcntl.LOCK_EX):  # a directory too big to index after all
            _unlink(index)
        return None

    def _keep_parsed(self, index: str, ino: int, size: int) -> None:
        """Keep this process's parse of ``index`` (the file ``ino``, ``size`` bytes now) within
        ``_WARM_BYTES`` of its end, in the background. A listing right after a burst of writes then parses
        the last few records, not a snapshot that another worker process rebuilt meanwhile."""
        warmed = _warmed.get(index)
        if warmed is not None and warmed[0] == ino and size - warmed[1] < _WARM_BYTES:
            return
        if len(_warmed) >= 4096:
            _warmed.clear()
        _warmed[index] = (ino, size)
        _background.submit("parse " + index, lambda: self._load(index))

    def _publish(self, index: str, records: dict[str, tuple[int, bytes]]) -> None:
        """(under the index's exclusive lock) Replace or create the index, holding ``records`` (name ->
        (inode, header)) as its snapshot."""
        snapshot = cast(bytes, msgpack.packb(records, use_bin_type=True, unicode_errors="surrogateescape"))
        tmp = f"{index}.{uuid.uuid4().hex}"
        head = _MAGIC + (_BOOT or b"") + uuid.uuid4().bytes
        with open(tmp, "wb") as f:
            f.write(head + _SNAPSHOT.pack(len(snapshot), xxhash.xxh3_64_intdigest(snapshot)) + snapshot)
        os.rename(tmp, index)
        # This process's next walk of the directory need not parse the snapshot it just wrote.
        parsed = _Parsed(head)
        parsed.records = records
        parsed.total = len(records)
        parsed.offset = _HEAD_LEN + _SNAPSHOT.size + len(snapshot)
        _keep(index, parsed)

    # --- the read path ------------------------------------------------------------------------------
    def records(self, directory: str, metas: int) -> tuple[dict[str, tuple[int, bytes]], int] | None:
        """The newest record of each name of ``directory`` (holding ``metas`` meta files; scan it before
        calling), with the bytes they were parsed from, or None when it has no usable index. Schedules a
        rebuild when records are missing or most are old."""
        if metas > MAX_ENTRIES:
            return None
        parsed = self._load(self._path(directory))
        if parsed is None:
            self.schedule(directory)
            return None
        named = len(parsed.records)        # names with a record, deleted ones too
        if (metas - named > max(256, metas // 8) or parsed.total - named > metas + 1024
                or named > 2 * metas + 1024):
            self.schedule(directory)       # records missing, or mostly old ones or deleted keys'
        return parsed.records, parsed.offset

    def schedule(self, directory: str) -> None:
        """Rebuild ``directory``'s index in this process's background thread (once, however often asked)."""
        _background.submit(directory, lambda: self.rebuild(directory))

    def forget(self, directory: str) -> None:
        """Remove the index of ``directory``, which is gone (its lock file stays: an appender may hold it).
        Always safe: a listing reads the files it has no record of."""
        index = self._path(directory)
        if not os.path.exists(index):
            return
        with _Lock(index, fcntl.LOCK_EX):
            _unlink(index)

    def drop_other_boots(self) -> None:
        """Remove the indexes (and half-written replacements) of earlier boots: never used again, an index
        is rebuilt when a listing or a write needs it. In the background, once per drive and process."""
        _background.submit(self.dir, self._drop_other_boots)

    def _drop_other_boots(self) -> None:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".lock"):
                continue
            path = os.path.join(self.dir, name)
            if "." in name:                # a replacement being written, or never renamed into place
                head = _read_head(path)
                if len(head) == _HEAD_LEN and not _is_ours(head):
                    _unlink(path)          # an earlier boot's
                continue
            if self._head(path) is None:
                with _Lock(path, fcntl.LOCK_EX):
                    if self._head(path) is None:
                        _unlink(path)

    def rebuild(self, directory: str) -> None:
        """Rewrite ``directory``'s index: a record whose inode the file still has, else what its file holds.

        The files are read without the lock, so writers are held off only while the index is written. A
        header read then is used only if the same index file (ours, made first if need be) is still there
        when the lock is taken again: every rename in between was recorded in it, and a newer record wins."""
        index = self._path(directory)
        with _Lock(index, fcntl.LOCK_EX):
            head = self._head(index)
            if head is None:
                self._publish(index, {})   # renames from now on are recorded (another boot's is dropped)
                head = self._head(index)
        read = self._read_unrecorded(directory, index)
        with _Lock(index, fcntl.LOCK_EX):
            if head is None or self._head(index) != head:
                return                     # rebuilt or removed meanwhile
            old = self._load(index)
            self._publish(index, self._rebuild(directory, old.records if old is not None else {}, read))

    def _read_unrecorded(self, directory: str, index: str) -> dict[str, tuple[int, bytes]]:
        """(inode, header) of the meta files in ``directory`` that ``index`` has no usable record of (scanned
        first, as a walk does), each read through one descriptor."""
        out: dict[str, tuple[int, bytes]] = {}
        try:
            scan = [(e.name, e.inode()) for e in os.scandir(directory) if e.name.endswith(paths.META_SUFFIX)]
        except FileNotFoundError:
            return out
        parsed = self._load(index)
        records = parsed.records if parsed is not None else {}
        for name, ino in scan:
            record = records.get(name)
            if record is None or record[0] != ino:
                found = _read_with_inode(os.path.join(directory, name))
                if found is not None:
                    out[name] = found
        return out

    def _rebuild(self, directory: str, records: dict[str, tuple[int, bytes]],
                 read: dict[str, tuple[int, bytes]]) -> dict[str, tuple[int, bytes]]:
        """(under the exclusive lock, so every recorded rename is done) The records of the index that
        replaces ``records``: for each meta file, its record if the inode matches, else what was ``read``
        before if that matches, else its content."""
        out: dict[str, tuple[int, bytes]] = {}
        try:
            scan = [(e.name, e.inode()) for e in os.scandir(directory) if e.name.endswith(paths.META_SUFFIX)]
        except FileNotFoundError:
            return out
        for name, ino in scan:
            found = records.get(name)
            if found is None or found[0] != ino:
                found = read.get(name)
                if found is None or found[0] != ino:
                    found = _read_with_inode(os.path.join(directory, name))
                    if found is None:
                        continue
            out[name] = found
        return out

    def _head(self, index: str) -> bytes | None:
        """The index's first bytes (with its file id) if it is one of this boot."""
        head = _read_head(index)
        return head if len(head) == _HEAD_LEN and _is_ours(head) else None

    def _load(self, index: str) -> _Parsed | None:
        """``index`` parsed, incrementally (appends only add to the tail); None when there is no usable
        index."""
        global _parsed_bytes
        try:
            fd = os.open(index, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            size = os.fstat(fd).st_size
            head = os.pread(fd, _HEAD_LEN, 0)
            if not _is_ours(head):
                return None                # another boot's (its tail may be lost), or not ours
            with _parsed_lock:
                parsed = _parsed.pop(index, None)
                if parsed is not None:
                    _parsed_bytes -= parsed.offset
            if parsed is None or parsed.head != head or size < parsed.offset:
                parsed = _load_snapshot(fd, head)
                if parsed is None:
                    return None            # damaged: rebuilt when a listing asks
            start = parsed.offset
            data = os.pread(fd, size - start, start)
        finally:
            os.close(fd)
        pos, count = _parse(data, parsed.records)
        parsed.offset = start + pos
        parsed.total += count
        _keep(index, parsed)
        return parsed


def _keep(index: str, parsed: _Parsed) -> None:
    """Keep ``index`` parsed for later walks (appends only add to its tail), within the budget."""
    global _parsed_bytes
    with _parsed_lock:
        old = _parsed.pop(index, None)
        if old is not None:
            _parsed_bytes -= old.offset
        _parsed[index] = parsed
        _parsed_bytes += parsed.offset
        while _parsed_bytes > _PARSED_BYTES and len(_parsed) > 1:
            _parsed_bytes -= _parsed.popitem(last=False)[1].offset


# The end of each index's snapshot, by the index file's inode (a rebuild is a new file), as this process's
# writers last read it: a writer compares its index's appended tail with it.
_snapshot_ends: dict[str, tuple[int, int]] = {}


# Each index's file (inode) and size when this process last had it parsed in the background.
_warmed: dict[str, tuple[int, int]] = {}


def _snapshot_end(index: str, fd: int, ino: int) -> int:
    known = _snapshot_ends.get(index)
    if known is not None and known[0] == ino:
        return known[1]
    raw = os.pread(fd, _SNAPSHOT.size, _HEAD_LEN)
    end = _HEAD_LEN + _SNAPSHOT.size + (_SNAPSHOT.unpack(raw)[0] if len(raw) == _SNAPSHOT.size else 0)
    if len(_snapshot_ends) >= 4096:
        _snapshot_ends.clear()
    _snapshot_ends[index] = (ino, end)
    return end


def _read_head(path: str) -> bytes:
    """A file's first ``_HEAD_LEN`` bytes (fewer when it is shorter; none when it is gone)."""
    try:
        with open(path, "rb") as f:
            return f.read(_HEAD_LEN)
    except FileNotFoundError:
        return b""


def _is_ours(head: bytes) -> bool:
    """Whether an index's head is of this format and this boot."""
    return head[:-16] == _MAGIC + (_BOOT or b"-")


def _parse(data: bytes, records: dict[str, tuple[int, bytes]]) -> tuple[int, int]:
    """Add the appended records in ``data`` to ``records`` (a newer record replaces an older one); returns
    the bytes parsed and the records found."""
    unpack, record_size, end_all = _RECORD.unpack_from, _RECORD.size, len(data)
    pos = count = 0
    while pos + record_size <= end_all:
        length, name_len, ino = unpack(data, pos)
        end = pos + length
        if end > end_all or length < record_size + name_len:
            break                          # a record still being written (or damage: stop there)
        name_end = pos + record_size + name_len
        records[data[pos + record_size:name_end].decode("utf-8", "surrogateescape")] = (ino, data[name_end:end])
        pos = end
        count += 1
    return pos, count


def _load_snapshot(fd: int, head: bytes) -> _Parsed | None:
    """The records of an index's snapshot, positioned at the first append after it; None when damaged."""
    found = _Parsed(head)
    raw = os.pread(fd, _SNAPSHOT.size, _HEAD_LEN)
    if len(raw) < _SNAPSHOT.size:
        return None
    length, digest = _SNAPSHOT.unpack(raw)
    snapshot = os.pread(fd, length, _HEAD_LEN + _SNAPSHOT.size) if length else b""
    if len(snapshot) != length or xxhash.xxh3_64_intdigest(snapshot) != digest:
        return None
    if snapshot:
        try:
            records = msgpack.unpackb(snapshot, raw=False, use_list=False, unicode_errors="surrogateescape")
        except (ValueError, TypeError, msgpack.ExtraData):
            return None
        if not isinstance(records, dict):
            return None
        found.records = records
        found.total = len(records)
    found.offset = _HEAD_LEN + _SNAPSHOT.size + length
    return found


def _encode(name: str, ino: int, header: bytes) -> bytes:
    raw = os.fsencode(name)
    return _RECORD.pack(_RECORD.size + len(raw) + len(header), len(raw), ino) + raw + header


def _header_of(meta: bytes) -> bytes:
    """The header of a framed meta file's content, as a listing reading the file would see it: b"" when
    the framing is corrupt."""
    try:
        end = metafile.header_length(meta)
    except (metafile.CorruptMetaFile, struct.error):
        return b""
    return meta[metafile.PREFIX_SIZE:end] if end <= len(meta) else b""


class _Lock:
    """An index's lock: shared to append to it, exclusive to replace or remove it. A file of its own,
    never replaced, so an appender that holds it always opens the current index."""

    def __init__(self, index: str, mode: int) -> None:
        self.path = index + ".lock"
        self.mode = mode
        self.fd = -1

    def __enter__(self) -> None:
        self.acquire()

    def acquire(self) -> _Lock:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            try:
                os.mkdir(os.path.dirname(self.path), 0o755)   # not its parents: a drive wiped under us stays so
            except FileExistsError:
                pass
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self.fd, self.mode)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Background:
    """One thread per process for the indexes' upkeep (rebuilds, removals), each task queued once at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, Callable[[], object]]] = queue.Queue()
        self._pending: set[str] = set()
        self._pid = 0

    def submit(self, name: str, task: Callable[[], object]) -> None:
        """Run ``task`` in the background unless a task of that ``name`` is queued already."""
        with self._lock:
            if self._pid != os.getpid():   # none yet, or a forked worker's (its parent's thread is not here)
                self._pid = os.getpid()
                self._pending.clear()
                self._queue = queue.Queue()
                threading.Thread(target=self._run, args=(self._queue,), name="listing-index", daemon=True).start()
            if name in self._pending:
                return
            self._pending.add(name)
            self._queue.put((name, task))

    def _run(self, work: queue.Queue[tuple[str, Callable[[], object]]]) -> None:
        while True:
            name, task = work.get()
            try:
                task()
            except OSError as exc:
                log.warning("listing index upkeep (%s) failed: %s", name, exc)
            finally:
                with self._lock:
                    self._pending.discard(name)
                work.task_done()

    def wait(self) -> None:
        """Until every queued task is done (for tests)."""
        self._queue.join()


_background = _Background()
wait_for_rebuilds = _background.wait




def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _dir_size(directory: str) -> int:
    try:
        return os.stat(directory).st_size
    except FileNotFoundError:
        return 0


def _read_with_inode(path: str) -> tuple[int, bytes] | None:
    """(inode, verified header) of a meta file, read through one descriptor; None if gone or corrupt."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.fstat(fd).st_ino, metafile.read_header(fd)
    except (OSError, metafile.CorruptMetaFile):
        return None
    finally:
        os.close(fd)
