"""The drive API: everything the erasure layer may ask of one drive.

A drive is a local directory now (``local.LocalDrive``) and a peer's drive over the internal API later, so
this interface is async, speaks in volumes (a bucket, or ``SYS_VOLUME`` for internal files) and paths
relative to them, and never exposes file descriptors or OS errors. Failures are :class:`DriveError`
subclasses; the erasure layer counts them against its quorums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class DriveError(Exception):
    """A drive could not do what was asked (I/O error, offline, full...)."""


def as_result(exc: DriveError) -> DriveError:
    """A drive's error, to be kept as a result (in a list of per-drive answers): without the tracebacks of
    its chain, whose frames lead back (by ``f_back``) to the frame holding that list, a cycle that only the
    garbage collector frees. A new key's PUT made one per drive (about 80 objects), and the collector ran
    every hundred or so PUTs."""
    cause: BaseException | None = exc
    for _ in range(16):                    # a chain is short; never loop forever on a cyclic one
        if cause is None:
            break
        cause.__traceback__ = None
        cause = cause.__cause__ or cause.__context__
    return exc


class FileNotFound(DriveError):
    pass


class VolumeNotFound(DriveError):
    pass


class VolumeNotEmpty(DriveError):
    pass


class DriveOffline(DriveError):
    pass


class DriveFull(DriveError):
    """The drive's file system has no space (or quota) left: an answer about space, not a fault of the
    drive, which still serves reads and deletes."""


@dataclass(frozen=True, slots=True)
class FileStat:
    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True, slots=True)
class DiskInfo:
    """Capacity of the file system under a drive, in bytes."""

    total: int
    free: int


# One listing entry: an object key with its metadata header, or a directory prefix (header None). A plain
# tuple: a listing makes one per key per walked drive and compares them whole, and the collector stops
# tracking a tuple of a str and bytes after its first look at it; a named tuple stays tracked, and each of
# its full passes walked every entry of every cached listing again (30-35 ms at 90,000 of them).
WalkEntry = tuple[str, bytes | None]


class ShardWriter(Protocol):
    """A new shard file being written sequentially; durable once ``close`` returns, or, on a drive with a
    group commit, by the time a commit or rename that publishes it returns (before any name points at it)."""

    async def write(self, data: bytes) -> None: ...
    async def close(self) -> None: ...
    async def abort(self) -> None: ...


class ShardReader(Protocol):
    """An open shard file: stays readable even if the file is deleted or replaced meanwhile."""

    async def read_at(self, offset: int, length: int) -> bytes | bytearray:
        """Up to ``length`` bytes at ``offset``; shorter only at the end of the file."""
        ...

    def close(self) -> None: ...


class Drive(Protocol):
    endpoint: str
    is_local: bool             # a directory of this process's machine (cheap to stat), not a peer's

    # --- identity and lifecycle -------------------------------------------------------------------
    async def read_format(self) -> bytes | None:
        """The format file, or None on an unformatted drive."""
        ...

    async def write_format(self, data: bytes) -> None: ...
    async def is_unused(self) -> bool:
        """No buckets and no internal data: safe to format into a slot."""
        ...

    async def prepare(self) -> None:
        """Create the internal directories and remove temporary files of dead processes."""
        ...

    def new_tmp_path(self) -> str:
        """A fresh path under this process's temporary area of ``SYS_VOLUME``."""
        ...

    async def close(self) -> None: ...

    async def disk_info(self) -> DiskInfo:
        """Total and free bytes (placement by free space; later, capacity metrics)."""
        ...

    # --- volumes ----------------------------------------------------------------------------------
    async def make_volume(self, volume: str) -> None: ...            # idempotent
    async def delete_volume(self, volume: str) -> None: ...          # VolumeNotEmpty if it holds objects
    async def volume_exists(self, volume: str) -> bool: ...

    # --- small files ------------------------------------------------------------------------------
    async def read_file(self, volume: str, path: str) -> bytes: ...  # FileNotFound
    async def read_meta(self, volume: str, path: str) -> bytes:
        """Like ``read_file``, for per-request object metadata: implementations make it cheap."""
        ...

    def read_meta_nowait(self, volume: str, path: str) -> bytes | None:
        """``read_meta`` without waiting: the data if it is at hand (page cache), else None.
        Remote drives always return None."""
        ...

    async def stat_file(self, volume: str, path: str) -> FileStat: ...
    async def write_file(self, volume: str, path: str, data: bytes) -> None:
        """Atomically replace ``path`` with ``data``, durably (temp file, fsync, rename, fsync dir)."""
        ...

    async def delete(self, volume: str, path: str, *, recursive: bool = False) -> None:
        """Remove a file (or a tree); missing is fine. Empty parent directories are pruned."""
        ...

    async def list_dir(self, volume: str, path: str) -> list[str]: ...  # FileNotFound

    # --- commits ----------------------------------------------------------------------------------
    async def commit(self, volume: str, meta_path: str, meta: bytes, *,
                     tmp_dir: str | None = None, data_path: str | None = None) -> None:
        """Move ``SYS_VOLUME/tmp_dir`` to ``volume/data_path`` (if given), then atomically write the
        metadata file: after a crash the old metadata or the new one is in place, and the new one
        never points to data that is not there."""
        ...

    async def link_files(self, links: list[tuple[str, str, str, str]]) -> None:
        """Hard-link (src_volume, src_path) to (dst_volume, dst_path) for each entry."""
        ...

    async def rename(self, src_volume: str, src_path: str, dst_volume: str, dst_path: str) -> None: ...

    # --- shard data -------------------------------------------------------------------------------
    async def create_shard(self, volume: str, path: str, size_hint: int) -> ShardWriter: ...
    async def open_shard(self, volume: str, path: str) -> ShardReader: ...  # FileNotFound

    # --- listing ----------------------------------------------------------------------------------
    async def walk(self, volume: str, prefix: str, marker: str, limit: int,
                   delimited: bool) -> list[WalkEntry]:
        """Object keys (and, when ``delimited``, ``/``-directories as prefixes) starting with
        ``prefix`` and sorting after ``marker``, in UTF-8 byte order, at most ``limit`` entries."""
        ...

    def walk_nowait(self, volume: str, prefix: str, marker: str, limit: int,
                    delimited: bool) -> list[WalkEntry] | None:
        """``walk`` without waiting: the entries if the drive's cached listings hold them (a later page
        of a big listing), else None. Remote drives always return None."""
        ...
