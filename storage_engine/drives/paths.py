"""The on-disk layout of a drive, and how object keys map to paths inside a bucket directory.

::

    <drive>/.rustfs.sys/format.json                 the drive's identity and layout version (drives/format.py)
    <drive>/.rustfs.sys/buckets/<bucket>.meta       bucket metadata (created, versioning)
    <drive>/.rustfs.sys/tmp/<process>/<uuid>/...    uncommitted writes of one live process
    <drive>/.rustfs.sys/locks/<n>.lock              cross-process key locks (first drive of a set)
    <drive>/.rustfs.sys/multipart/<hash>/<upload>/  multipart uploads (upload.meta, part.N.meta, part.N.<uuid>)
    <drive>/.rustfs.sys/listing/<hash>              listing index of one big directory (drives/listing_index.py)
    <drive>/<bucket>/<dirs...>/<leaf>.xl.meta       all versions of one key (+ this drive's inline shards)
    <drive>/<bucket>/<dirs...>/<leaf>.xl.data/<data-id>/part.N    this drive's shard of one version's part N

A key ``a/b/c`` is stored as directories ``a/b`` holding ``c.xl.meta`` (and ``c.xl.data/`` when its data
is not inline). Keeping the metadata file *beside* the key's sub-directory, not inside it, lets a listing
learn everything about a directory with one ``listdir``: ``*.xl.meta`` files are objects, ``*.xl.data``
directories are data, ``*.xl.cont`` directories continue a long name, and every other directory is a
prefix. A key ending in ``/`` has an empty leaf, stored as ``.xl.meta`` inside its directory.

Every key S3 accepts has a place (layout 2, see ``drives/layout.py``):

- a directory segment that the file system cannot hold as a name (empty as in ``a//b`` or a leading
  ``/``, ``.``, ``..``), or that ends in a reserved suffix, gets ``.xl.esc`` appended; decoding strips
  it once. Leaves need no escaping: every file in a bucket directory is a meta file, and ``.xl.meta`` is
  stripped exactly once (``..xl.meta`` is the leaf ``.``);
- a segment too long for one file name (keys may be 1,024 bytes, a name 255) is cut at UTF-8 character
  boundaries into pieces of at most ``CHUNK`` bytes; every piece but the last becomes a directory
  ``<piece>.xl.cont`` and the last is stored as a short segment would be. A listing reads a ``.xl.cont``
  directory as part of its parent, so keys still come out in order.
"""

from __future__ import annotations

SYS_VOLUME = ".rustfs.sys"
META_SUFFIX = ".xl.meta"
DATA_SUFFIX = ".xl.data"
ESCAPE_SUFFIX = ".xl.esc"
CONT_SUFFIX = ".xl.cont"
_RESERVED = (META_SUFFIX, DATA_SUFFIX, ESCAPE_SUFFIX, CONT_SUFFIX)
_UNNAMEABLE = ("", ".", "..")

FORMAT_FILE = "format.json"
BUCKETS_DIR = "buckets"
TMP_DIR = "tmp"
LOCKS_DIR = "locks"
LISTING_DIR = "listing"
MULTIPART_DIR = "multipart"

# Longest file name most Linux file systems accept (bytes), and the longest piece of a long segment:
# a piece plus any suffix (``.xl.cont``, ``.xl.data``, ``.xl.esc``) fits NAME_MAX.
NAME_MAX = 255
CHUNK = 240


def _dir_name(segment: str) -> str:
    if segment in _UNNAMEABLE or segment.endswith(_RESERVED):
        return segment + ESCAPE_SUFFIX
    return segment


def _pieces(segment: str) -> list[str]:
    """``segment`` cut into pieces of at most CHUNK UTF-8 bytes, never inside a character."""
    raw = segment.encode()
    out: list[str] = []
    while len(raw) > CHUNK:
        cut = CHUNK
        while raw[cut] & 0xC0 == 0x80:     # a continuation byte: back up to the character's start
            cut -= 1
        out.append(raw[:cut].decode())
        raw = raw[cut:]
    out.append(raw.decode())
    return out


def _continued(segment: str) -> tuple[str, str]:
    """(the ``.xl.cont`` directories of a long segment, ending in ``/``; its last piece)."""
    *heads, last = _pieces(segment)
    return "".join(h + CONT_SUFFIX + "/" for h in heads), last


def encode_dir(segment: str) -> str:
    """The relative path of the directory standing for one key segment (several levels when long)."""
    name = _dir_name(segment)
    if len(name.encode()) <= NAME_MAX:
        return name
    heads, last = _continued(segment)
    return heads + _dir_name(last)


def decode_dir(name: str) -> str:
    if name.endswith(ESCAPE_SUFFIX):
        return name[: -len(ESCAPE_SUFFIX)]
    return name


def _encode_head(head: str) -> str:
    return "/".join(encode_dir(s) for s in head.split("/"))


def _leaf_path(key: str, suffix: str) -> str:
    head, sep, leaf = key.rpartition("/")
    directory = _encode_head(head) + "/" if sep else ""
    if len((leaf + DATA_SUFFIX).encode()) > NAME_MAX:
        heads, leaf = _continued(leaf)
        directory += heads
    return directory + leaf + suffix


def meta_path(key: str) -> str:
    """Path of a key's metadata file inside its bucket directory."""
    return _leaf_path(key, META_SUFFIX)


def data_container(key: str) -> str:
    """Directory holding the data directories of a key's versions, inside its bucket directory."""
    return _leaf_path(key, DATA_SUFFIX)


def prefix_start_dir(prefix: str) -> tuple[str, str]:
    """The deepest directory that can hold every key starting with ``prefix``: (its encoded path, the
    key prefix it stands for)."""
    head, sep, _ = prefix.rpartition("/")
    if not sep:
        return "", ""
    return _encode_head(head), head + "/"
