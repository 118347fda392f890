"""Durable atomic replacement of small files, recycling inodes.

The classic recipe is: write a new temporary file, fdatasync, rename over the target, fsync the
directory. On this project's VMs creating an inode costs ~0.5 ms of kernel CPU, four times per small
PUT (one per drive), more than everything else together. So when the target exists, the temporary
file is swapped with it (``renameat2(RENAME_EXCHANGE)``, just as atomic as a rename) and the old inode
becomes a spare that a later write overwrites. Spares wait in a FIFO long enough that a reader that
opened the old file a moment ago has finished with it (and metadata carries its own hash anyway).

The two flushes (the new content before the rename, the directory after it) are the drive's group commit
(``drives/group_sync.py``) where it has one: concurrent writers share them.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import uuid

from storage_engine.drives.group_sync import GroupSync
from storage_engine.drives.listing_index import ListingIndex

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# Spares are reused only when this many are queued: the FIFO delay before an inode is rewritten.
_MIN_SPARES = 16
_MAX_SPARES = 256

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _renameat2 = _libc.renameat2
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
except (OSError, AttributeError):
    _renameat2 = None


def exchange(a: str, b: str) -> bool:
    """Atomically swap two paths; False when the kernel or file system cannot (or ``b`` is missing)."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOENT, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), b)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs(path: str, stop: str) -> list[str]:
    """``os.makedirs`` that returns the parents whose entries changed (they need an fsync)."""
    created: list[str] = []
    missing: list[str] = []
    current = path
    while current != stop and not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o755)
            created.append(os.path.dirname(directory))
        except FileExistsError:
            pass
    return created


class Staged:
    """A write between its halves (``AtomicFiles.stage`` and ``publish``)."""

    __slots__ = ("full", "data", "tmp", "fd", "moved", "swapped")

    def __init__(self, full: str, data: bytes, tmp: str, fd: int) -> None:
        self.full = full
        self.data = data
        self.tmp = tmp                     # the new content's file, renamed to ``full`` by publish
        self.fd = fd                       # open on it until then
        self.moved: set[str] = set()       # directories whose entries the staged move changed
        self.swapped = False               # publish exchanged it with the old file: ``tmp`` holds that now

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class AtomicFiles:
    """Atomic, durable small-file writes inside one drive (``root``), using ``tmp_dir`` for staging."""

    def __init__(self, root: str, tmp_dir: str, sync: GroupSync | None = None) -> None:
        self.root = root
        self.tmp_dir = tmp_dir
        self._spares: collections.deque[str] = collections.deque()
        self._sync = sync                  # the drive's group commit; None: flush each file and directory
        self.index: ListingIndex | None = None   # the drive's listing index: told of every meta file's new content

    def flush_data(self, fd: int) -> None:
        """``fd``'s data on stable storage (with the group commit: all of the drive's writes so far)."""
        if self._sync is None:
            os.fdatasync(fd)
        else:
            self._sync.barrier(self.root)

    def flush_new_file(self, fd: int) -> None:
        """A new file's data on stable storage, or, with the group commit, left to the barrier that comes
        before any name points at it: a commit's before it publishes, ``rename``'s before it renames. A 1 MiB
        PUT waited for a barrier of its own for its shards, then for the commit's two."""
        if self._sync is None:
            os.fdatasync(fd)

    def flush_dir(self, path: str) -> None:
        """``path``'s entries on stable storage (with the group commit: all of the drive's writes so far)."""
        if self._sync is None:
            fsync_dir(path)
        else:
            self._sync.barrier(self.root)

    def write(self, full: str, data: bytes, *, move: tuple[str, str] | None = None) -> None:
        """Replace ``full`` with ``data``, atomically and durably. ``move`` (src, dst): a directory renamed
        into place first (a version's data, then the metadata that points at it), durable before ``full``
        changes and sharing the content's flush (with a group commit, the barrier after the staging flushes
        its files too; else they were flushed when written, and its entries are flushed here first)."""
        staged = self.stage(full, data, move=move)
        try:
            # The content (and the moved directory) are durable before any name points at them.
            self.flush_data(staged.fd)
            if self._sync is None:
                self._flush_dirs(staged.moved)
            changed = self.publish(staged)
        finally:
            staged.close()
        self._flush_dirs(changed)
        self.recycle(staged)

    def stage(self, full: str, data: bytes, *, move: tuple[str, str] | None = None) -> Staged:
        """The first half of ``write``: ``data`` in a file of its own (open until ``publish``, or ``close``
        on failure) and ``move`` done, none of it flushed yet."""
        spare = self._spares.popleft() if len(self._spares) > _MIN_SPARES else None
        fd = -1
        tmp = ""
        if spare is not None:
            try:
                # Overwritten in place and cut back after, not truncated first: freeing and reallocating
                # its blocks cost more than the write (measured, 16 threads: 5,000-7,900 rewrites/s with
                # O_TRUNC, 12,000-15,100 in place; ext4 without a journal discards freed blocks at once).
                fd = os.open(spare, os.O_WRONLY | os.O_CLOEXEC)
                tmp = spare
            except FileNotFoundError:
                self._spares.clear()       # the temporary area was wiped (drive replaced under us)
        if fd < 0:
            tmp = os.path.join(self.tmp_dir, uuid.uuid4().hex)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                os.makedirs(self.tmp_dir, 0o755, exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        staged = Staged(full, data, tmp, fd)
        try:
            write_all(fd, data)
            if tmp == spare:
                os.ftruncate(fd, len(data))   # its old content may be longer
            if move:
                if self._sync is None:
                    fsync_dir(move[0])     # the moved directory's own entries, before it is published
                staged.moved = self._move(*move)
        except BaseException:
            staged.close()
            raise
        return staged

    def publish(self, staged: Staged) -> set[str]:
        """The second half of ``write``, once the staged content is durable: the name points at it.
        Returns the directories whose entries changed (to be flushed before the write counts, and before
        ``recycle``)."""
        outcome = self.publish_all([staged])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def publish_all(self, batch: list[Staged]) -> list[set[str] | BaseException]:
        """``publish`` of each of ``batch`` (its outcome, or what it failed with), with one listing-index
        append per directory for all of them. Each staged file is closed."""
        outcomes: dict[int, set[str] | BaseException] = {}
        by_dir: dict[str, list[int]] = {}
        for i, staged in enumerate(batch):
            by_dir.setdefault(os.path.dirname(staged.full), []).append(i)
        for directory, members in by_dir.items():
            recorded = None
            try:
                if self.index is not None:
                    # Before the names point at them; its lock is held until they do (drives/listing_index.py).
                    recorded = self.index.record(directory, [
                        (os.path.basename(batch[i].full), batch[i].fd, batch[i].data) for i in members])
            except BaseException as exc:   # noqa: BLE001 - none of them may be renamed
                for i in members:
                    batch[i].close()
                    outcomes[i] = exc
                continue
            try:
                for i in members:
                    outcomes[i] = self._rename_into_place(batch[i])
            finally:
                if recorded is not None:
                    recorded.release()
        return [outcomes[i] for i in range(len(batch))]

    def _rename_into_place(self, staged: Staged) -> set[str] | BaseException:
        try:
            staged.close()
            staged.swapped = exchange(staged.tmp, staged.full)
            return {os.path.dirname(staged.full)} if staged.swapped else self._move(staged.tmp, staged.full)
        except BaseException as exc:       # noqa: BLE001 - this one's outcome
            return exc

    def recycle(self, staged: Staged) -> None:
        """Keep the old file a published write swapped out as a spare, once the swap is durable: rewritten
        before that, a crash could bring the old name back onto the rewritten content."""
        if not staged.swapped:
            return
        if len(self._spares) < _MAX_SPARES:
            self._spares.append(staged.tmp)
        else:
            os.unlink(staged.tmp)

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` durably, creating parents; what ``src`` holds is durable before it."""
        if self._sync is not None:
            self._sync.barrier(self.root)  # new files' data (flush_new_file) before their new name
        self._flush_dirs(self._move(src, dst))

    def _flush_dirs(self, changed: set[str]) -> None:
        if self._sync is not None:
            if changed:
                self._sync.barrier(self.root)   # every changed directory at once
            return
        for directory in changed:
            fsync_dir(directory)

    def _move(self, src: str, dst: str) -> set[str]:
        """Rename ``src`` to ``dst``, creating parents; returns the directories whose entries changed.
        Retried when a concurrent delete prunes a parent between creating it and renaming into it."""
        parent = os.path.dirname(dst)
        changed = {parent}
        for _ in range(4):
            try:
                os.rename(src, dst)
                return changed
            except FileNotFoundError:
                if not os.path.exists(src):
                    raise
                changed.update(makedirs(parent, self.root))
        os.rename(src, dst)
        return changed
