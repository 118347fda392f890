"""Sorted listing of one bucket directory on a local drive (runs in a drive thread).

Keys come out in UTF-8 byte order (Python compares str by code point, which is the same order), with a
directory sorting as its name plus ``/``. Only directories that can hold keys after ``marker`` and under
``prefix`` are entered, so a page of a large listing touches little more than the page itself.
"""

from __future__ import annotations

import os
import struct

from storage_engine.drives import metafile, paths
from storage_engine.drives.base import WalkEntry

_META = paths.META_SUFFIX
_DATA = paths.DATA_SUFFIX
_META_LEN = len(_META)
_FIRST_READ = 8192


def walk_volume(volume_root: str, prefix: str, marker: str, limit: int, delimited: bool) -> list[WalkEntry]:
    start = paths.prefix_start_dir(prefix)
    out: list[WalkEntry] = []
    if start is None or limit <= 0:
        return out
    directory, dir_key = start
    path = os.path.join(volume_root, directory) if directory else volume_root
    _walk_dir(path, dir_key, prefix, marker, limit, delimited, out)
    return out


def _walk_dir(path: str, dir_key: str, prefix: str, marker: str, limit: int, delimited: bool,
              out: list[WalkEntry]) -> None:
    try:
        names = os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    entries: list[tuple[str, str, bool]] = []
    for name in names:
        if name.endswith(_META):
            key = dir_key + name[:-_META_LEN]
            if key > marker and key.startswith(prefix):
                entries.append((key, name, False))
        elif name.endswith(_DATA):
            continue
        else:
            key = dir_key + paths.decode_dir(name) + "/"
            if not (key.startswith(prefix) or prefix.startswith(key)):
                continue
            if key <= marker and not (marker.startswith(key) and marker != key):
                continue                   # every key below sorts at or before the marker
            entries.append((key, name, True))
    entries.sort()
    for key, name, is_dir in entries:
        if len(out) >= limit:
            return
        full = path + "/" + name
        if not is_dir:
            header = _read_header(full)
            if header is not None:
                out.append(WalkEntry(key, header))
        elif delimited and key.startswith(prefix):
            out.append(WalkEntry(key, None))
        else:
            _walk_dir(full, key, prefix, marker, limit, delimited, out)


def _read_header(path: str) -> bytes | None:
    """The verified header of a meta file; b"" when corrupt, None when it vanished."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, _FIRST_READ)
        try:
            end = metafile.header_length(data)
            if end > len(data):
                data += os.pread(fd, end - len(data), len(data))
            header, _ = metafile.unpack(data[:end])
        except (metafile.CorruptMetaFile, struct.error):
            return b""
        return header
    except OSError:
        return None
    finally:
        os.close(fd)
