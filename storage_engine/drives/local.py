"""A drive that is a local directory.

Blocking file I/O runs in this drive's own thread pool, so a slow drive cannot starve the others. One
exception, for the per-request hot path: ``read_meta`` first tries to read the (small) metadata file
right on the event loop with ``RWF_NOWAIT``, which succeeds only when the data is in the page cache and
so cannot block; otherwise it falls back to the thread pool. That saves a thread round trip per drive
on every small GET and HEAD.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import functools
import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from storage_engine.drives import committer, layout, paths
from storage_engine.drives.base import (DiskInfo, DriveError, DriveFull, FileNotFound, FileStat, VolumeNotEmpty,
                                        VolumeNotFound, WalkEntry)
from storage_engine.drives.atomic import AtomicFiles, fsync_dir
from storage_engine.drives.cached_open import open_cached
from storage_engine.drives.direct_io import DirectWriter, open_new_file
from storage_engine.drives.group_sync import GroupSync
from storage_engine.drives.listing_index import ListingIndex, usable
from storage_engine.drives.recycle import DataSpares
from storage_engine.drives.walk import WouldBlock, walk_volume

T = TypeVar("T")

_process: tuple[int, str] = (0, "")


def process_id() -> str:
    """Names this process's temporary area on every drive; new after a fork (workers get their own)."""
    global _process
    pid = os.getpid()
    if _process[0] != pid:
        _process = (pid, uuid.uuid4().hex)
    return _process[1]


_OWNER_LOCK = "owner.lock"
_AREAS_LOCK = "tmp.lock"            # in the system volume: held while areas are made and swept


def _check_relative(path: str) -> None:
    """Defense in depth: callers build paths from validated names, but never let one escape the drive."""
    wrapped = f"/{path}/"
    if path.startswith("/") or "\x00" in path or "/../" in wrapped or "/./" in wrapped:
        raise DriveError(f"invalid path {path!r}")


def _prune_empty_parents(path: str, stop: str) -> str:
    """Remove now-empty directories from ``path`` up to (not including) ``stop``; returns the deepest
    directory left, whose entries changed."""
    current = path
    while current != stop and current.startswith(stop):
        try:
            os.rmdir(current)
        except OSError:
            return current
        current = os.path.dirname(current)
    return current


def _fsync_nearest(path: str, stop: str) -> None:
    """fsync ``path``, or its nearest existing ancestor if a concurrent delete pruned it meanwhile."""
    while True:
        try:
            fsync_dir(path)
            return
        except FileNotFoundError:
            if path == stop or not path.startswith(stop):
                return
            path = os.path.dirname(path)


# A shard read up to this size is first tried in the event loop, from the page cache without blocking (no
# thread hop: for a 1 MiB object's two shards, the hops cost more than the copies). Larger reads go to the
# drive's threads, so a big GET's reads overlap its sending.
NOWAIT_READ_MAX = 1 << 20


class LocalShardReader:
    __slots__ = ("_fd", "_run")

    def __init__(self, fd: int, run: Callable[..., Any]) -> None:
        self._fd = fd
        self._run = run

    async def read_at(self, offset: int, length: int) -> bytes | bytearray:
        try:
            if length <= NOWAIT_READ_MAX:
                cached = _pread_cached(self._fd, length, offset)
                if cached is not None:
                    return cached
            return await self._run(os.pread, self._fd, length, offset)
        except OSError as exc:
            raise DriveError(str(exc)) from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LocalDrive:
    """A drive rooted at a local directory."""

    is_local = True

    def __init__(self, root: str, *, threads: int = 16, direct_io: bool = True, group_commit: str = "auto") -> None:
        self.endpoint = root
        self.root = os.path.abspath(root)
        self.sys_root = os.path.join(self.root, paths.SYS_VOLUME)
        self.tmp_root = os.path.join(self.sys_root, paths.TMP_DIR, process_id())
        self._direct_io = direct_io
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"drive-{os.path.basename(root)}")
        self._owner_fd = -1
        sync = GroupSync.for_drive(self.root, group_commit)
        self._files = AtomicFiles(self.root, self.tmp_root, sync)
        # With a group commit, metadata commits go in batches through the file system's committer.
        self._committer = committer.for_sync(sync) if sync is not None else None
        self._spare_data = DataSpares(self.tmp_root)
        self._index: ListingIndex | None = None   # set up by prepare, where the drive can keep one

    # --- plumbing -----------------------------------------------------------------------------------
    def _run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def _vol(self, volume: str) -> str:
        if not volume or "/" in volume or volume in (".", "..") or "\x00" in volume:
            raise DriveError(f"invalid volume {volume!r}")
        return f"{self.root}/{volume}"

    def _path(self, volume: str, path: str) -> str:
        _check_relative(path)
        return f"{self._vol(volume)}/{path}" if path else self._vol(volume)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._mapped(self._run(fn, *args))

    async def _mapped(self, future: asyncio.Future[T]) -> T:
        """``future``'s result, its OSError as the DriveError it means."""
        try:
            return await future
        except FileNotFoundError as exc:
            raise FileNotFound(str(exc)) from exc
        except NotADirectoryError as exc:
            raise FileNotFound(str(exc)) from exc
        except OSError as exc:
            error = _drive_error(self.endpoint, exc)
            if isinstance(error, DriveFull):
                self._run(self._spare_data.clear)   # give their space back (not waited for)
            raise error from exc

    # --- identity and lifecycle ---------------------------------------------------------------------
    async def read_format(self) -> bytes | None:
        try:
            return await self.read_file(paths.SYS_VOLUME, paths.FORMAT_FILE)
        except FileNotFound:
            return None

    async def write_format(self, data: bytes) -> None:
        await self._call(os.makedirs, self.tmp_root, 0o755, True)
        await self.write_file(paths.SYS_VOLUME, paths.FORMAT_FILE, data)

    async def is_unused(self) -> bool:
        def check() -> bool:
            try:
                names = os.listdir(self.root)
            except FileNotFoundError:
                return True
            if any(n not in (paths.SYS_VOLUME, "lost+found") for n in names):
                return False
            try:
                inner = os.listdir(self.sys_root)
            except FileNotFoundError:
                return True
            return not any(n in (paths.FORMAT_FILE, paths.BUCKETS_DIR, paths.MULTIPART_DIR) for n in inner)
        return await self._call(check)

    async def prepare(self) -> None:
        await self._call(self._prepare)

    def _prepare(self) -> None:
        layout.migrate(self.root, self._files)
        for sub in (paths.TMP_DIR, paths.LOCKS_DIR, paths.BUCKETS_DIR, paths.MULTIPART_DIR):
            os.makedirs(os.path.join(self.sys_root, sub), 0o755, exist_ok=True)
        # Our owner lock marks the temporary area as live; any other area whose lock we can take
        # belongs to a process that is gone (crashed or stopped), so its half-written data goes. Areas
        # are made and swept under one lock per drive: another process's area is never seen between
        # its directory and its owner lock (it would look abandoned).
        guard = os.open(os.path.join(self.sys_root, _AREAS_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(guard, fcntl.LOCK_EX)
            self._sweep_areas()
        finally:
            os.close(guard)
        if self._index is None and usable(self.tmp_root):
            self._index = self._files.index = ListingIndex(self.root)
            self._index.drop_other_boots()

    def _sweep_areas(self) -> None:
        os.makedirs(self.tmp_root, 0o755, exist_ok=True)
        if self._owner_fd < 0:
            self._owner_fd = os.open(os.path.join(self.tmp_root, _OWNER_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(self._owner_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tmp_base = os.path.join(self.sys_root, paths.TMP_DIR)
        for name in os.listdir(tmp_base):
            area = os.path.join(tmp_base, name)
            if area == self.tmp_root:
                continue
            try:
                fd = os.open(os.path.join(area, _OWNER_LOCK), os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                shutil.rmtree(area, ignore_errors=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue                   # still owned by a live process
            finally:
                os.close(fd)
            shutil.rmtree(area, ignore_errors=True)

    def new_tmp_path(self) -> str:
        return f"{paths.TMP_DIR}/{os.path.basename(self.tmp_root)}/{uuid.uuid4().hex}"

    async def close(self) -> None:
        if self._owner_fd >= 0:
            os.close(self._owner_fd)
            self._owner_fd = -1
        shutil.rmtree(self.tmp_root, ignore_errors=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def disk_info(self) -> DiskInfo:
        st = await self._call(os.statvfs, self.root)
        return DiskInfo(st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)

    # --- volumes ------------------------------------------------------------------------------------
    async def make_volume(self, volume: str) -> None:
        path = self._vol(volume)

        def make() -> None:
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                return
            fsync_dir(self.root)
        await self._call(make)

    async def delete_volume(self, volume: str) -> None:
        path = self._vol(volume)

        def delete() -> None:
            # Leftover empty directories may remain after deletes; objects may not.
            for dirpath, _dirs, files in os.walk(path):
                if files:
                    raise VolumeNotEmpty(dirpath)
            shutil.rmtree(path)
        try:
            await self._call(delete)
        except FileNotFound as exc:
            raise VolumeNotFound(volume) from exc

    async def volume_exists(self, volume: str) -> bool:
        return os.path.isdir(self._vol(volume))

    # --- small files --------------------------------------------------------------------------------
    async def read_file(self, volume: str, path: str) -> bytes:
        return await self._call(_read_all, self._path(volume, path))

    def read_meta_nowait(self, volume: str, path: str) -> bytes | None:
        try:
            return _read_cached(self._path(volume, path))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise FileNotFound(path) from exc
        except OSError as exc:
            raise _drive_error(self.endpoint, exc) from exc

    async def read_meta(self, volume: str, path: str) -> bytes:
        data = self.read_meta_nowait(volume, path)
        if data is not None:
            return data
        return await self._call(_read_all, self._path(volume, path))

    async def stat_file(self, volume: str, path: str) -> FileStat:
        try:
            st = os.stat(self._path(volume, path))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise FileNotFound(path) from exc
        except OSError as exc:
            raise _drive_error(self.endpoint, exc) from exc
        return FileStat(st.st_size, st.st_mtime_ns, st.st_ino)

    async def write_file(self, volume: str, path: str, data: bytes) -> None:
        await self._call(self._files.write, self._path(volume, path), data)

    async def delete(self, volume: str, path: str, *, recursive: bool = False) -> None:
        vol = self._vol(volume)
        full = self._path(volume, path)

        def delete() -> None:
            try:
                if recursive and os.path.isdir(full):
                    if not self._spare_data.keep(full):   # a version's data dir: its shard file is reused
                        shutil.rmtree(full)
                    removed_file = False
                else:
                    os.unlink(full)
                    removed_file = True
            except FileNotFoundError:
                return
            parent = _prune_empty_parents(os.path.dirname(full), vol)
            if self._index is not None:
                pruned = os.path.dirname(full)
                while pruned != parent and len(pruned) > len(parent):
                    self._index.forget(pruned)   # the directory is gone: so is its index
                    pruned = os.path.dirname(pruned)
            if removed_file:
                _fsync_nearest(parent, self.root)   # an acknowledged delete must stay deleted
        await self._call(delete)

    async def list_dir(self, volume: str, path: str) -> list[str]:
        return await self._call(os.listdir, self._path(volume, path))

    # --- commits ------------------------------------------------------------------------------------
    async def commit(self, volume: str, meta_path: str, meta: bytes, *,
                     tmp_dir: str | None = None, data_path: str | None = None) -> None:
        meta_full = self._path(volume, meta_path)
        src = self._path(paths.SYS_VOLUME, tmp_dir) if tmp_dir else None
        dst = self._path(volume, data_path) if data_path else None
        volume_root = self._vol(volume)

        move = (src, dst) if src and dst else None

        if self._committer is not None:
            await self._mapped(self._committer.submit(self._files, meta_full, meta, move=move, volume=volume_root,
                                                      missing=lambda: VolumeNotFound(volume)))
            return

        def commit() -> None:
            if not os.path.isdir(volume_root):
                raise VolumeNotFound(volume)   # the bucket is gone: do not recreate its directory
            self._files.write(meta_full, meta, move=move)
        await self._call(commit)

    async def link_files(self, links: list[tuple[str, str, str, str]]) -> None:
        resolved = [(self._path(sv, sp), self._path(dv, dp)) for sv, sp, dv, dp in links]

        def link() -> None:
            parents: set[str] = set()
            for src, dst in resolved:
                parent = os.path.dirname(dst)
                if parent not in parents:
                    os.makedirs(parent, 0o755, exist_ok=True)
                    parents.add(parent)
                os.link(src, dst)
            for parent in parents:
                self._files.flush_dir(parent)
        await self._call(link)

    async def rename(self, src_volume: str, src_path: str, dst_volume: str, dst_path: str) -> None:
        await self._call(self._files.rename, self._path(src_volume, src_path), self._path(dst_volume, dst_path))

    # --- shard data ---------------------------------------------------------------------------------
    async def create_shard(self, volume: str, path: str, size_hint: int) -> DirectWriter:
        full = self._path(volume, path)

        def create() -> tuple[int, bool, bool]:
            parent = os.path.dirname(full)
            if os.path.dirname(parent) == self.tmp_root:   # a new temporary dir: a spare can be it
                spare = self._spare_data.take(parent, os.path.basename(full), direct=self._direct_io)
                if spare is not None:
                    return *spare, True
            os.makedirs(parent, 0o755, exist_ok=True)
            return *open_new_file(full, direct=self._direct_io), False
        # Made in the thread of the writer's first write. Its writes and flush go through _call: a full
        # file system or an I/O error is a DriveError like any other operation's, never a bare OSError
        # past the drive API.
        return DirectWriter(full, create, self._call, size_hint, flush=self._files.flush_new_file)

    async def open_shard(self, volume: str, path: str) -> LocalShardReader:
        # In the loop when the kernel's caches can resolve the path (no thread hop; measured: a 1 MiB GET
        # c1 658 -> 995 MB/s with its reads), else in a drive thread.
        full, flags = self._path(volume, path), os.O_RDONLY | os.O_CLOEXEC
        try:
            fd = open_cached(full, flags)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise FileNotFound(path) from exc
        except OSError as exc:
            raise _drive_error(self.endpoint, exc) from exc
        if fd is None:
            fd = await self._call(os.open, full, flags)
        return LocalShardReader(fd, self._run)

    # --- listing ------------------------------------------------------------------------------------
    async def walk(self, volume: str, prefix: str, marker: str, limit: int, delimited: bool) -> list[WalkEntry]:
        return await self._call(walk_volume, self._vol(volume), prefix, marker, limit, delimited, self._index)

    def walk_nowait(self, volume: str, prefix: str, marker: str, limit: int,
                    delimited: bool) -> list[WalkEntry] | None:
        try:
            return walk_volume(self._vol(volume), prefix, marker, limit, delimited, self._index, nowait=True)
        except WouldBlock:
            return None
        except OSError as exc:
            raise _drive_error(self.endpoint, exc) from exc


def _drive_error(endpoint: str, exc: OSError) -> DriveError:
    """A failed file operation as the object layer sees it. A name longer than the file system allows
    cannot exist: that is "not found", an answer about the name, never a fault of the drive (which would
    take it offline for every caller). A full file system (or quota) is ``DriveFull``: the drive still
    serves reads and deletes."""
    if exc.errno == errno.ENAMETOOLONG:
        return FileNotFound(f"{endpoint}: name too long")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DriveFull(f"{endpoint}: {exc.strerror or exc}")
    return DriveError(f"{endpoint}: {exc}")


def _read_all(path: str) -> bytes:
    with open(path, "rb", buffering=0) as f:
        return f.readall()


# A bytearray whose contents are not zeroed first (``bytearray(n)`` writes n zero bytes, which a read then
# overwrites: 2% of all CPU samples of a 1 MiB GET). Only for buffers that are filled whole before use.
_bytearray_of_size = ctypes.pythonapi.PyByteArray_FromStringAndSize
_bytearray_of_size.restype = ctypes.py_object
_bytearray_of_size.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
_UNZEROED_MIN = 64 << 10                  # below this, zeroing costs less than the ctypes call


def _pread_cached(fd: int, length: int, offset: int) -> bytearray | None:
    """``length`` bytes at ``offset`` if the page cache holds them all (read without blocking), else None."""
    buf: bytearray = _bytearray_of_size(None, length) if length >= _UNZEROED_MIN else bytearray(length)
    try:
        n = os.preadv(fd, [buf], offset, os.RWF_NOWAIT)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EOPNOTSUPP, errno.EINVAL):
            return None
        raise
    return buf if n == length else None


def _read_cached(path: str) -> bytes | None:
    """The whole file if it is in the page cache (read without blocking), else None.

    Opened with a plain ``open``, not ``open_cached``: a PUT of a new key looks up a name that does not
    exist, which the kernel's caches cannot answer the first time, and a thread hop per drive would cost
    every such PUT."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = _pread_cached(fd, os.fstat(fd).st_size, 0)
        return bytes(data) if data is not None else None
    finally:
        os.close(fd)
