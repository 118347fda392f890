"""Versions of the drive layout (``format.json``'s ``version``) and the migration of older drives.

1. Keys with empty, ``.`` or ``..`` segments, or a segment over 247 bytes, were refused; a directory
   segment ending in ``.xl.cont`` was stored under its own name.
2. Every key S3 accepts has a place (``drives/paths.py``). ``.xl.cont`` directories now continue long
   names, so a version 1 directory named ``*.xl.cont`` is renamed to its escaped form
   ``*.xl.cont.xl.esc``. Every other version 1 name means the same in version 2.

The process that owns a drive migrates it when it prepares the drive, before serving anything from it,
holding the format lock the other processes on the drive take too. Renames are idempotent and the new
version is written last, so a migration cut short runs again at the next start.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os

from storage_engine.drives import paths
from storage_engine.drives.atomic import AtomicFiles, fsync_dir

log = logging.getLogger(__name__)

VERSION = 2
VERSIONS = (1, VERSION)            # versions this code reads (older ones are migrated on prepare)
LOCK_FILE = "format.lock"          # taken by drives/format.py while formatting, too
# Directories of the system volume holding keys in the bucket layout (the config store).
_SYS_KEYED = ("config",)


def migrate(root: str, files: AtomicFiles) -> None:
    """Bring the drive at ``root`` to the current layout; nothing to do for a current or blank drive."""
    fmt_path = os.path.join(root, paths.SYS_VOLUME, paths.FORMAT_FILE)
    if _version(fmt_path) != 1:
        return
    fd = os.open(os.path.join(root, paths.SYS_VOLUME, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _version(fmt_path) != 1:
            return                         # another process of this node migrated it meanwhile
        renamed = sum(_escape_continuations(top) for top in _keyed_roots(root))
        with open(fmt_path, "rb") as f:
            doc = json.load(f)
        doc["version"] = VERSION
        files.write(fmt_path, json.dumps(doc, indent=1).encode())
        log.warning("drive %s: layout migrated from version 1 to %d (%d directories renamed)", root, VERSION,
                    renamed)
    finally:
        os.close(fd)


def _version(fmt_path: str) -> object:
    try:
        with open(fmt_path, "rb") as f:
            return json.load(f).get("version")
    except (OSError, ValueError, AttributeError):
        return None                        # blank, or unreadable: drives/format.py decides what it is


def _keyed_roots(root: str) -> list[str]:
    tops = [os.path.join(root, n) for n in os.listdir(root) if n not in (paths.SYS_VOLUME, "lost+found")]
    tops += [os.path.join(root, paths.SYS_VOLUME, n) for n in _SYS_KEYED]
    return [t for t in tops if os.path.isdir(t)]


def _escape_continuations(top: str) -> int:
    renamed = 0
    for directory, subdirs, _files in os.walk(top):
        kept: list[str] = []
        changed = False
        for name in subdirs:
            if name.endswith(paths.DATA_SUFFIX):
                continue                   # a key's data: no key names inside
            if name.endswith(paths.CONT_SUFFIX):
                os.rename(os.path.join(directory, name), os.path.join(directory, name + paths.ESCAPE_SUFFIX))
                name += paths.ESCAPE_SUFFIX
                changed = True
                renamed += 1
            kept.append(name)
        subdirs[:] = kept
        if changed:
            fsync_dir(directory)
    return renamed
