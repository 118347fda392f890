"""Opening a file in the event loop without blocking it.

``openat2`` with ``RESOLVE_CACHED`` (Linux 5.12+) resolves a path from the kernel's caches only, and fails
with ``EAGAIN`` where the lookup would have to read the disk; the caller then opens the file in a drive
thread. It is what ``RWF_NOWAIT`` is to reads (``drives/local.py``): hot files cost no thread hop, cold ones
never stall the loop (a lookup on a warm HDD pool takes milliseconds). Python has no binding for
``openat2``, so it goes through libc's ``syscall``; where the kernel or a seccomp filter refuses it, every
open goes to the threads as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from typing import Any

__all__ = ["open_cached"]

_SYS_OPENAT2 = 437              # one number on every architecture (syscalls added since 5.1 share one table)
_RESOLVE_CACHED = 0x20
_AT_FDCWD = -100


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _load_syscall() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    function = libc.syscall
    function.restype = ctypes.c_long
    return function


_syscall = _load_syscall()


def open_cached(path: str, flags: int) -> int | None:
    """A file descriptor for ``path`` if its lookup needs no disk read, else None (open it in a thread).

    Raises OSError (FileNotFoundError, NotADirectoryError...) as ``os.open`` does."""
    global _syscall
    if _syscall is None:
        return None
    how = _OpenHow(flags, 0, _RESOLVE_CACHED)
    fd = _syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_long(_AT_FDCWD), ctypes.c_char_p(os.fsencode(path)),
                  ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    if err == errno.EAGAIN:
        return None
    if err in (errno.ENOSYS, errno.EPERM, errno.EINVAL):     # no openat2, filtered, or no RESOLVE_CACHED
        _syscall = None
        return None
    raise OSError(err, os.strerror(err), path)
