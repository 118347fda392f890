"""Framing of a key's metadata file (``<leaf>.xl.meta``).

::

    b"XLM1" | u32 header length | u64 xxh64(header) | header | inline section

The header (msgpack of all versions, built by ``erasure.metadata``) is byte-identical on every drive
of the set, so drives can be compared without decoding it. The inline section holds this drive's own
shards of small objects and differs per drive. A listing reads only the header.
"""

from __future__ import annotations

import os
import struct

import xxhash

MAGIC = b"XLM1"
_PREFIX = struct.Struct("<4sIQ")
PREFIX_SIZE = _PREFIX.size


class CorruptMetaFile(ValueError):
    pass


def pack(header: bytes, inline: bytes) -> bytes:
    return b"".join((_PREFIX.pack(MAGIC, len(header), xxhash.xxh64_intdigest(header)), header, inline))


def header_length(prefix: bytes) -> int:
    """Total bytes up to the end of the header, from at least PREFIX_SIZE leading bytes."""
    magic, length, _ = _PREFIX.unpack_from(prefix)
    if magic != MAGIC:
        raise CorruptMetaFile("bad magic")
    return PREFIX_SIZE + length


def unpack(data: bytes) -> tuple[bytes, bytes]:
    """(header, inline section); raises CorruptMetaFile when the header fails its hash."""
    if len(data) < PREFIX_SIZE:
        raise CorruptMetaFile("short file")
    magic, length, digest = _PREFIX.unpack_from(data)
    end = PREFIX_SIZE + length
    if magic != MAGIC or len(data) < end:
        raise CorruptMetaFile("bad framing")
    header = data[PREFIX_SIZE:end]
    if xxhash.xxh64_intdigest(header) != digest:
        raise CorruptMetaFile("header hash mismatch")
    return header, data[end:]


_FIRST_READ = 8192


def read_header(fd: int) -> bytes:
    """The verified header of the meta file open as ``fd``; raises CorruptMetaFile (or OSError)."""
    data = os.read(fd, _FIRST_READ)
    try:
        end = header_length(data)
    except struct.error as exc:
        raise CorruptMetaFile("short file") from exc
    if end > len(data):
        data += os.pread(fd, end - len(data), len(data))
    return unpack(data[:end])[0]
