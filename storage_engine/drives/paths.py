"""The on-disk layout of a drive, and how object keys map to paths inside a bucket directory.

::

    <drive>/.rustfs.sys/format.json                 the drive's identity (drives/format.py)
    <drive>/.rustfs.sys/buckets/<bucket>.meta       bucket metadata (created, versioning)
    <drive>/.rustfs.sys/tmp/<process>/<uuid>/...    uncommitted writes of one live process
    <drive>/.rustfs.sys/locks/<n>.lock              cross-process key locks (first drive of a set)
    <drive>/.rustfs.sys/multipart/<hash>/<upload>/  multipart uploads (upload.meta, part.N.meta, part.N.<uuid>)
    <drive>/<bucket>/<dirs...>/<leaf>.xl.meta       all versions of one key (+ this drive's inline shards)
    <drive>/<bucket>/<dirs...>/<leaf>.xl.data/<data-id>/part.N    this drive's shard of one version's part N

A key ``a/b/c`` is stored as directories ``a/b`` holding ``c.xl.meta`` (and ``c.xl.data/`` when its data
is not inline). Keeping the metadata file *beside* the key's sub-directory, not inside it, lets a listing
learn everything about a directory with one ``listdir``: ``*.xl.meta`` files are objects, ``*.xl.data``
directories are data, and every other directory is a prefix. A key ending in ``/`` has an empty leaf,
stored as ``.xl.meta`` inside its directory.

User directory segments that end in one of the reserved suffixes get ``.xl.esc`` appended, so no key can
collide with an internal name. Leaves need no escaping: every file in a bucket directory is a meta file,
and the ``.xl.meta`` suffix is stripped exactly once.
"""

from __future__ import annotations

SYS_VOLUME = ".rustfs.sys"
META_SUFFIX = ".xl.meta"
DATA_SUFFIX = ".xl.data"
ESCAPE_SUFFIX = ".xl.esc"
_RESERVED = (META_SUFFIX, DATA_SUFFIX, ESCAPE_SUFFIX)

FORMAT_FILE = "format.json"
BUCKETS_DIR = "buckets"
TMP_DIR = "tmp"
LOCKS_DIR = "locks"
MULTIPART_DIR = "multipart"

# Longest file name most Linux file systems accept (bytes).
NAME_MAX = 255


def encode_dir(segment: str) -> str:
    if segment.endswith(_RESERVED):
        return segment + ESCAPE_SUFFIX
    return segment


def decode_dir(name: str) -> str:
    if name.endswith(ESCAPE_SUFFIX):
        return name[: -len(ESCAPE_SUFFIX)]
    return name


def split_key(key: str) -> tuple[str, str]:
    """``"a/b/c"`` -> (``"a/b"`` encoded directory path, ``"c"`` leaf). The key must be valid already."""
    head, _, leaf = key.rpartition("/")
    if not head:
        return "", leaf
    return "/".join(encode_dir(s) for s in head.split("/")), leaf


def meta_path(key: str) -> str:
    """Path of a key's metadata file inside its bucket directory."""
    directory, leaf = split_key(key)
    name = leaf + META_SUFFIX
    return f"{directory}/{name}" if directory else name


def data_container(key: str) -> str:
    """Directory holding the data directories of a key's versions, inside its bucket directory."""
    directory, leaf = split_key(key)
    name = leaf + DATA_SUFFIX
    return f"{directory}/{name}" if directory else name


def encoded_names_fit(key: str) -> bool:
    """Whether every on-disk name of ``key`` fits the file system's NAME_MAX."""
    head, _, leaf = key.rpartition("/")
    if len((leaf + DATA_SUFFIX).encode()) > NAME_MAX:
        return False
    return all(len(encode_dir(s).encode()) <= NAME_MAX for s in head.split("/") if head)


def prefix_start_dir(prefix: str) -> tuple[str, str] | None:
    """The deepest directory that can hold every key starting with ``prefix``.

    Returns (encoded directory path, the key prefix that directory stands for), or None when no valid key
    can start with ``prefix`` (an empty, ``.`` or ``..`` segment before its last ``/``).
    """
    head, sep, _ = prefix.rpartition("/")
    if not sep:
        return "", ""
    segments = head.split("/")
    if any(s in ("", ".", "..") for s in segments):
        return None
    return "/".join(encode_dir(s) for s in segments), head + "/"
