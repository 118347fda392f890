"""Spare data directories: the shard file of a replaced or deleted version is overwritten by a later write
instead of being deleted while another file is created.

On a file system without a journal (ext4 as this project's VMs mount it), ext4 passes over every inode
freed in the last minute or more when it allocates a new one (``recently_deleted`` in its inode
allocator). So under steady overwrites creating a file gets ~20x slower (measured: 8 us on a quiet file
system, 179 us after 20,000 deletes), and a PUT of an object too big to be inline made two inodes (its
temporary directory and shard file) and freed two (the old version's) on every drive. Overwriting a
spare's blocks in place also allocates and frees no blocks when the sizes match.

A spare is reused only when nobody has its file open: a write lease (``F_SETLEASE``) is granted only
then. A GET that opened the old version's shard before it was replaced reads the old bytes to its end;
the spare it holds is deleted instead. A file that has another name (a hard link: the parts of a completed
upload are links of the upload's part files) is never a spare. Spares live in this process's temporary area, so a restart or a
sweep of a dead process's area removes them. They hold at most ``MAX_BYTES`` of a drive's space, given
back as soon as the drive reports itself full.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import os
import shutil
import stat
import threading
import uuid

MAX_SPARES = 32
MAX_BYTES = 256 << 20                  # per drive and process: space a burst of deletes leaves unreturned
_F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
_BUSY = (errno.EAGAIN, errno.EBUSY)


def _is_shard_name(name: str) -> bool:
    return name == "part" or (name.startswith("part.") and name[5:].isdigit())


class DataSpares:
    """The spare data directories of one drive (in ``area``, this process's temporary area)."""

    def __init__(self, area: str) -> None:
        self._area = area
        self._spares: collections.deque[tuple[str, str, int]] = collections.deque()   # (dir, file, size)
        self._bytes = 0
        self._lock = threading.Lock()  # drive threads keep and take concurrently
        self.enabled = True

    def keep(self, directory: str) -> bool:
        """Move ``directory`` into the spares if it holds exactly one shard file (``part...``) and there is
        room; False when it is not taken (the caller deletes it)."""
        if not self.enabled:
            return False
        try:
            names = os.listdir(directory)
            if len(names) != 1 or not _is_shard_name(names[0]):
                return False
            st = os.lstat(f"{directory}/{names[0]}")
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return False                  # another name (a completed upload's hard link) still holds it
        with self._lock:
            if len(self._spares) >= MAX_SPARES or self._bytes + st.st_size > MAX_BYTES:
                return False
            self._bytes += st.st_size     # reserved before the rename, released if it fails
        spare = f"{self._area}/spare-{uuid.uuid4().hex}"
        try:
            os.rename(directory, spare)
        except OSError:
            with self._lock:
                self._bytes -= st.st_size
            return False
        with self._lock:
            self._spares.append((spare, names[0], st.st_size))
        return True

    def take(self, directory: str, name: str, *, direct: bool) -> tuple[int, bool] | None:
        """A spare renamed to ``directory`` (which must not exist) with its file renamed to ``name``, open
        for writing (as ``open_new_file``: (fd, whether O_DIRECT is on); its old bytes are to be overwritten
        and cut back); None when there is no spare that nobody has open."""
        while True:
            with self._lock:
                if not self._spares:
                    return None
                spare, file, size = self._spares.popleft()
                self._bytes -= size
            opened = self._open_unshared(f"{spare}/{file}", direct)
            if opened is None:
                shutil.rmtree(spare, ignore_errors=True)
                if not self.enabled:
                    return None
                continue
            try:
                os.rename(spare, directory)
            except OSError:
                os.close(opened[0])
                shutil.rmtree(spare, ignore_errors=True)
                return None
            if file != name:
                try:
                    os.rename(f"{directory}/{file}", f"{directory}/{name}")
                except OSError:
                    os.close(opened[0])
                    os.unlink(f"{directory}/{file}")
                    return None
            return opened

    def _open_unshared(self, path: str, direct: bool) -> tuple[int, bool] | None:
        """``path`` open for writing when no other descriptor (of any process) has it open, else None."""
        flags = os.O_WRONLY | os.O_CLOEXEC
        try:
            try:
                fd = os.open(path, flags | os.O_DIRECT) if direct else os.open(path, flags)
            except OSError as exc:
                if not direct or exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                fd, direct = os.open(path, flags), False
        except OSError:
            return None
        try:
            fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_WRLCK)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _BUSY:
                self.enabled = True      # no leases here (EINVAL, EACCES, ENOLCK): delete as before
            return None
        fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_UNLCK)   # nobody can open it meanwhile: its path is ours alone
        if os.fstat(fd).st_nlink != 1:     # linked since it was kept: never overwrite another name's bytes
            os.close(fd)
            return None
        return fd, direct

    def clear(self) -> None:
        """Delete every spare (the drive is full: their space is wanted)."""
        with self._lock:
            spares, self._spares, self._bytes = list(self._spares), collections.deque(), 0
        for spare, _, _ in spares:
            shutil.rmtree(spare, ignore_errors=True)
