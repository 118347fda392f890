"""Group commit of a drive's flushes: concurrent writers share one ``syncfs`` instead of a flush each.

A small PUT made two flushes per drive: ``fdatasync`` of its new metadata file, then ``fsync`` of the
directory it was renamed into, each a device cache flush (on these VMs a trap to the hypervisor). Without
any flush the same engine did 977-1,066 small PUTs/s against 427-493 (measured, 4 KiB, c16). A barrier
here instead waits for one ``syncfs`` of the drive's file system that started after it was called: every
write and rename made before it, by any thread, is then on stable storage, and the callers that arrive
while one runs share the next. ``syncfs`` writes back all dirty data and metadata of that file system (a
drive's own, in a real deployment) and flushes the device; an ``fsync`` of the drive's directory after it
flushes the device once more, for the metadata blocks ``syncfs`` writes after its flush on a file system
without a journal (it waits for the block device's buffers last).

``syncfs`` writes back everything dirty on the file system, not only the engine's writes, so by default
(``group_commit`` "auto" in ``config.py``) only a drive that is a file system of its own has a group commit;
elsewhere, and where ``syncfs`` is missing, callers flush each file as before.
"""

from __future__ import annotations

import ctypes
import os
import threading

try:
    _syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    _syncfs.argtypes = [ctypes.c_int]
except (OSError, AttributeError):
    _syncfs = None


_by_device: dict[int, GroupSync] = {}
_registry_lock = threading.Lock()


class GroupSync:
    """``barrier(path)``: everything written on ``path``'s file system before the call is durable on return."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._started = 0                  # syncfs calls begun (at most one runs at a time)
        self._completed = 0                # the last one that succeeded
        self._running = False

    @staticmethod
    def for_drive(path: str, mode: str = "auto") -> GroupSync | None:
        """The group commit of ``path``'s file system (of its nearest existing ancestor until it exists),
        shared by the drives on it: one ``syncfs`` serves them all. None where there is no ``syncfs``, when
        ``mode`` is "off", and for "auto" unless ``path`` is a mount point (a file system shared with other
        writers would make every barrier wait for their dirty data too)."""
        if _syncfs is None or mode == "off" or (mode == "auto" and not os.path.ismount(path)):
            return None
        while True:
            try:
                device = os.stat(path).st_dev
                break
            except FileNotFoundError:
                parent = os.path.dirname(path)
                if parent == path:
                    raise
                path = parent
        with _registry_lock:
            found = _by_device.get(device)
            if found is None:
                found = _by_device[device] = GroupSync()
            return found

    def barrier(self, path: str) -> None:
        with self._cond:
            needed = self._started + 1     # one that starts after this call: a running one may have missed it
            while self._completed < needed:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                self._started += 1
                generation = self._started
                self._cond.release()
                try:
                    _sync(path)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
                self._completed = generation   # reached only when it succeeded; waiters on a failed one retry


def _sync(path: str) -> None:
    assert _syncfs is not None
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        # syncfs waits for the block device's own buffers (directory and inode blocks of ext4 without a
        # journal) after it flushed the device: an fsync flushes it again, after them.
        os.fsync(fd)
    finally:
        os.close(fd)
