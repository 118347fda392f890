"""The versions of one key: the model behind ``<leaf>.xl.meta`` and its msgpack encoding.

The header is a msgpack list ``[FORMAT, [version, ...]]``, newest version first; each version is a map
with short keys (it is read on every request and every listed key). A version keeps its logical
``size`` (what the client sent) apart from the ``stored`` size of each part (what was erasure coded):
encryption makes them differ. An encrypted version carries its envelope under ``"se"`` (the packed
``crypto.envelope.Envelope``: cipher, sealed and wrapped keys, KMS key id; docs/encryption.md); a version
without it is plaintext, so metadata written before encryption reads unchanged. The inline section maps a
version's ``data_id`` to this drive's shard records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import msgpack
import msgspec

from storage_engine.config import BLOCK_SIZE
from storage_engine.drives.metafile import CorruptMetaFile

FORMAT = 1


@dataclass(slots=True)
class PartMeta:
    number: int
    size: int                      # logical bytes
    stored_size: int               # bytes as stored (after the transform: ciphertext), as erasure coded
    etag: str
    mod_time: float = 0.0
    checksums: dict[str, str] = field(default_factory=dict)

    def pack(self) -> list[Any]:
        return [self.number, self.size, self.stored_size, self.etag, self.mod_time, self.checksums]

    @classmethod
    def unpack(cls, raw: list[Any]) -> PartMeta:
        return cls(int(raw[0]), int(raw[1]), int(raw[2]), str(raw[3]), float(raw[4]), dict(raw[5]))


@dataclass(frozen=True, slots=True)
class TierRef:
    """Where a transitioned version's stored bytes live: tier name, key there, remote version id; and,
    while a restored copy sits on the hot drives too (RestoreObject), until when (epoch seconds)."""

    tier: str
    key: str
    version: str = ""
    restored_until: float = 0.0

    def pack(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"t": self.tier, "k": self.key, "v": self.version}
        if self.restored_until:
            doc["r"] = self.restored_until
        return doc

    @classmethod
    def unpack(cls, raw: Any) -> TierRef:
        if not isinstance(raw, dict) or not raw.get("t") or not raw.get("k"):
            raise CorruptMetaFile("damaged tier reference")
        return cls(str(raw["t"]), str(raw["k"]), str(raw.get("v", "")), float(raw.get("r", 0.0)))


@dataclass(slots=True)
class Version:
    version_id: str                # "null" or a uuid
    data_id: str                   # unique per version: names its data dir / inline shard
    mod_time: float
    delete_marker: bool = False
    size: int = 0
    etag: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    storage_class: str = "STANDARD"
    inline: bool = False
    data_blocks: int = 0
    parity_blocks: int = 0
    block_size: int = BLOCK_SIZE
    distribution: list[int] = field(default_factory=list)   # drive position of each shard index
    parts: list[PartMeta] = field(default_factory=list)
    multipart: bool = False
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    sse: dict[str, Any] | None = None      # the encryption envelope, packed; None: stored in plaintext
    owner: str = ""                        # the writer's canonical ID ("" = the bucket owner's; docs/iam.md)
    acl: bytes | None = None               # the object ACL, packed by api/acl.py (None = canned private)
    # Transitioned: the stored bytes live on a tier (storage_class names it), none on this set's drives.
    tier: TierRef | None = None
    # Object lock (objects/object_lock.py): retention mode ("" none) and retain-until date (epoch seconds), and
    # the legal hold (None: never set). Absent when unset: versions without them pack to the same bytes.
    lock_mode: str = ""
    lock_until: float = 0.0
    legal_hold: bool | None = None

    @property
    def has_data(self) -> bool:
        """Whether the version has shards on this set's drives (data dirs to read, heal and remove)."""
        return not self.delete_marker and not self.inline and (self.tier is None or self.tier.restored_until > 0)

    def pack(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.version_id, "dd": self.data_id, "mt": self.mod_time}
        if self.owner:                     # absent when unset: older versions pack to the same bytes
            doc["ow"] = self.owner
        if self.delete_marker:
            doc["dm"] = True
            return doc
        doc.update({
            "sz": self.size, "et": self.etag, "md": self.metadata, "tg": self.tags, "sc": self.storage_class,
            "in": self.inline, "ec": [self.data_blocks, self.parity_blocks, self.block_size],
            "di": self.distribution, "pt": [p.pack() for p in self.parts], "mp": self.multipart,
            "ck": self.checksums, "ct": self.checksum_type,
        })
        if self.sse is not None:
            doc["se"] = self.sse
        if self.acl is not None:
            doc["ac"] = self.acl
        if self.tier is not None:
            doc["tr"] = self.tier.pack()
        if self.lock_mode:
            doc["lm"] = self.lock_mode
            doc["lu"] = self.lock_until
        if self.legal_hold is not None:
            doc["lh"] = self.legal_hold
        return doc

    @classmethod
    def unpack(cls, doc: dict[str, Any]) -> Version:
        if doc.get("dm"):
            return cls(str(doc["id"]), str(doc["dd"]), float(doc["mt"]), delete_marker=True,
                       owner=str(doc.get("ow", "")))
        k, m, block = doc["ec"]
        return cls(
            version_id=str(doc["id"]), data_id=str(doc["dd"]), mod_time=float(doc["mt"]), size=int(doc["sz"]),
            etag=str(doc["et"]), metadata=dict(doc["md"]), tags=dict(doc["tg"]), storage_class=str(doc["sc"]),
            inline=bool(doc["in"]), data_blocks=int(k), parity_blocks=int(m), block_size=int(block),
            distribution=[int(x) for x in doc["di"]], parts=[PartMeta.unpack(p) for p in doc["pt"]],
            multipart=bool(doc["mp"]), checksums=dict(doc["ck"]), checksum_type=doc["ct"],
            sse=_envelope_doc(doc.get("se")), owner=str(doc.get("ow", "")), acl=_acl_doc(doc.get("ac")),
            tier=TierRef.unpack(doc["tr"]) if "tr" in doc else None,
            lock_mode=str(doc.get("lm", "")), lock_until=float(doc.get("lu", 0.0)),
            legal_hold=bool(doc["lh"]) if "lh" in doc else None)

    def same_data(self, other: Version) -> bool:
        """Whether two drives' copies describe the same stored data."""
        return (self.version_id, self.data_id, self.mod_time, self.delete_marker) == (
            other.version_id, other.data_id, other.mod_time, other.delete_marker)


def _envelope_doc(raw: Any) -> dict[str, Any] | None:
    """The ``"se"`` map as stored. Anything but a map is kept as an empty one, which the reader refuses
    (InternalError), so a damaged envelope never reads as plaintext."""
    if raw is None:
        return None
    return dict(raw) if isinstance(raw, dict) else {}


def _acl_doc(raw: Any) -> bytes | None:
    return bytes(raw) if isinstance(raw, (bytes, bytearray)) else None


def encode_header(versions: list[Version]) -> bytes:
    return cast(bytes, msgpack.packb([FORMAT, [v.pack() for v in versions]], use_bin_type=True))


def decode_header(header: bytes) -> list[Version]:
    try:
        fmt, docs = msgpack.unpackb(header, raw=False, strict_map_key=False)
        if fmt != FORMAT:
            raise CorruptMetaFile(f"unknown metadata format {fmt}")
        return [Version.unpack(d) for d in docs]
    except CorruptMetaFile:
        raise
    except (ValueError, TypeError, KeyError, IndexError, msgpack.ExtraData) as exc:
        raise CorruptMetaFile(str(exc)) from exc


class Summary(msgspec.Struct, frozen=True, gc=False):
    """What a listing shows of one version, decoded straight from the header's map: only these fields are
    built, the rest skipped in C (a listing decodes one header per listed key; msgpack built every field of
    every version, 3-5 us a header, this 1-1.5)."""

    version_id: str = msgspec.field(name="id")
    mod_time: float = msgspec.field(name="mt")
    delete_marker: bool = msgspec.field(default=False, name="dm")
    size: int = msgspec.field(default=0, name="sz")
    etag: str = msgspec.field(default="", name="et")
    storage_class: str = msgspec.field(default="STANDARD", name="sc")
    checksums: dict[str, str] = msgspec.field(default_factory=dict, name="ck")
    checksum_type: str | None = msgspec.field(default=None, name="ct")
    owner: str = msgspec.field(default="", name="ow")


_summaries = msgspec.msgpack.Decoder(tuple[int, tuple[Summary, ...]])


def decode_latest(header: bytes) -> Summary:
    """The newest version's summary, for listings."""
    try:
        fmt, versions = _summaries.decode(header)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptMetaFile(str(exc)) from exc
    if fmt != FORMAT or not versions:
        raise CorruptMetaFile(f"unknown metadata format {fmt}" if fmt != FORMAT else "no versions")
    return versions[0]


def encode_inline(shards: dict[str, bytes]) -> bytes:
    return cast(bytes, msgpack.packb(shards, use_bin_type=True)) if shards else b""


def decode_inline(data: bytes) -> dict[str, bytes]:
    if not data:
        return {}
    try:
        shards = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.ExtraData):
        return {}                  # damaged inline data: the shards count as missing and get rebuilt
    return shards if isinstance(shards, dict) else {}


def latest(versions: list[Version]) -> Version | None:
    return versions[0] if versions else None


def find(versions: list[Version], version_id: str) -> Version | None:
    for v in versions:
        if v.version_id == version_id:
            return v
    return None
