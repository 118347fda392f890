"""The object layer's contract: what the S3 handlers (``api/``) may ask of storage.

The storage packages (``objects/``, ``erasure/``, ``drives/``) never import ``api/`` or ``http/``.
All methods raise ``storage_engine.errors`` classes for expected failures (NoSuchBucket, NoSuchKey,
InvalidPart, InsufficientWriteQuorum, ...).

Metadata convention: ``metadata`` maps lower-case HTTP header names to values, exactly the headers
that are stored and returned with the object: ``content-type``, ``cache-control``,
``content-disposition``, ``content-encoding``, ``content-language``, ``expires``,
``x-amz-meta-*``, ``x-amz-storage-class`` (only when not STANDARD), ``x-amz-website-redirect-location``.
The handlers decide which request headers belong there; storage persists them verbatim.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    from storage_engine.objects.object_lock import LockConfig, LockMode, LockRequest

NULL_VERSION = "null"

VersioningStatus = Literal["", "Enabled", "Suspended"]  # "" = never enabled
ChecksumAlgorithm = Literal["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
ChecksumType = Literal["FULL_OBJECT", "COMPOSITE"]
SseMode = Literal["S3", "KMS", "C"]                    # SSE-S3, SSE-KMS, SSE-C (docs/encryption.md)


class PutBody(Protocol):
    """A request body being received. Verification (signatures, checksums) happens inside ``read``."""

    async def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer only at the end of the body (``b""`` once exhausted).

        Raises an S3Error (BadDigest, SignatureDoesNotMatch, IncompleteBody, ...) when the body fails
        verification; that error surfaces no later than the read that reaches the end, so storage
        never commits a body that failed.
        """
        ...

    def checksums(self) -> dict[str, str]:
        """After the end: the verified ``x-amz-checksum-*`` values sent with the body, algorithm
        (upper case, e.g. ``"CRC32"``) -> base64 value. Empty when the client sent none."""
        ...


@dataclass(frozen=True, slots=True)
class SseRequest:
    """The encryption a request (or its bucket's default) asks for (docs/encryption.md)."""

    mode: SseMode
    kms_key_id: str | None = None                  # KMS: the key; None = the server's default key
    context: dict[str, str] = field(default_factory=dict)   # KMS: the client's encryption context
    customer_key: bytes | None = None              # C: the 32-byte key, already checked against its MD5


@dataclass(frozen=True, slots=True)
class SseInfo:
    """How a stored version is encrypted: what GET, HEAD and PUT responses say about it."""

    mode: SseMode
    kms_key_id: str | None = None                  # S3 and KMS modes: the key that wraps the data key
    context: dict[str, str] = field(default_factory=dict)
    customer_key_md5: str | None = None            # C: base64 MD5 of the key the request gave


@dataclass(slots=True)
class PutOptions:
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    storage_class: str = "STANDARD"                # STANDARD | REDUCED_REDUNDANCY
    content_md5: bytes | None = None               # raw 16 bytes from Content-MD5; mismatch -> BadDigest
    size: int | None = None                        # declared decoded length, when known
    if_none_match_star: bool = False               # If-None-Match: * -> PreconditionFailed if the key exists
    if_match: str | None = None                    # If-Match: etag -> PreconditionFailed unless it matches
    if_none_match: str | None = None               # If-None-Match: etag -> PreconditionFailed if it matches
    checksum_algorithm: ChecksumAlgorithm | None = None   # multipart: algorithm chosen at Create
    checksum_type: ChecksumType | None = None             # multipart: FULL_OBJECT or COMPOSITE
    # CompleteMultipartUpload: the client's whole-object x-amz-checksum-* values (algorithm -> base64);
    # a mismatch with the computed value -> BadDigest, and nothing is committed.
    expected_checksums: dict[str, str] = field(default_factory=dict)
    # None: the bucket's default encryption, else "encrypt everything" (kms_auto_encryption), else none.
    sse: SseRequest | None = None
    owner: str = ""                                # the new version's owner (canonical ID; "" = the bucket's)
    acl: bytes | None = None                       # its ACL, packed by api/acl.py (None = canned private)
    # Object lock headers (x-amz-object-lock-*): None = none given (the bucket's default retention applies).
    lock: LockRequest | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    number: int
    size: int
    etag: str                                      # hex MD5 of the part, without quotes
    mod_time: float = 0.0
    checksums: dict[str, str] = field(default_factory=dict)
    sse: SseInfo | None = None                     # the upload's encryption (UploadPart's response headers)


@dataclass(slots=True)                 # not frozen: built per key of a listing, where frozen's __init__ cost 4x
class ObjectInfo:
    bucket: str
    key: str
    version_id: str                                # NULL_VERSION when unversioned
    size: int
    etag: str                                      # without quotes; multipart: "<md5 of md5s>-N"
    mod_time: float                                # seconds since the epoch
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    storage_class: str = "STANDARD"
    is_latest: bool = True
    delete_marker: bool = False
    checksums: dict[str, str] = field(default_factory=dict)   # whole object; COMPOSITE values end "-N"
    checksum_type: ChecksumType | None = None
    parts: tuple[PartInfo, ...] = ()               # multipart objects: the parts, in order
    sse: SseInfo | None = None                     # None: stored in plaintext
    owner: str = ""                                # the owner's canonical ID ("" = the bucket owner)
    acl: bytes | None = None                       # the ACL, packed by api/acl.py (None = canned private)
    restored_until: float = 0.0                    # a transitioned version with a restored copy: until when
    lock_mode: str = ""                            # object lock retention: GOVERNANCE | COMPLIANCE ("" none)
    lock_until: float = 0.0                        # and its retain-until date (epoch seconds)
    legal_hold: bool | None = None                 # the legal hold (None: never set)


@dataclass(frozen=True, slots=True)
class BucketInfo:
    name: str
    created: float


class ObjectReader(Protocol):
    """An open object version. Data read through it stays consistent even if the key is overwritten."""

    info: ObjectInfo

    def stream(self, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``[offset, offset+length)``: verified against bitrot hashes, rebuilt from parity when
        shards are missing or corrupt (and the object queued for healing)."""
        ...

    def stream_views(self, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes | memoryview]:
        """``stream``, where pieces may be memoryviews into the shard reads (no copy): for sending."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DeleteResult:
    version_id: str | None                         # the version removed, or of the marker created
    delete_marker: bool                            # a delete marker was created or removed


class ListedObject(NamedTuple):
    """What ListObjects shows of a key: its latest version. A tuple, made without the named tuple's
    constructor (objects/listing.py): a listing makes one per key, and an ObjectInfo cost five times more."""

    key: str
    mod_time: float
    size: int
    etag: str
    storage_class: str
    checksums: dict[str, str]
    checksum_type: ChecksumType | None
    owner: str


@dataclass(slots=True)
class ListObjectsResult:
    objects: list[ListedObject]
    prefixes: list[str]
    is_truncated: bool
    next_marker: str | None                        # the last key or prefix returned, when truncated


@dataclass(slots=True)
class ListVersionsResult:
    versions: list[ObjectInfo]                     # includes delete markers; newest first per key
    prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_version_id_marker: str | None


@dataclass(frozen=True, slots=True)
class UploadInfo:
    key: str
    upload_id: str
    initiated: float
    storage_class: str = "STANDARD"
    checksum_algorithm: ChecksumAlgorithm | None = None
    checksum_type: ChecksumType | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    sse: SseInfo | None = None                     # the upload's encryption (CreateMultipartUpload's headers)
    owner: str = ""                                # the initiator's canonical ID ("" = the bucket owner)
    lock_requested: bool = False                   # CreateMultipartUpload carried object lock headers


@dataclass(slots=True)
class ListUploadsResult:
    uploads: list[UploadInfo]
    prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_upload_id_marker: str | None


@dataclass(slots=True)
class ListPartsResult:
    upload: UploadInfo
    parts: list[PartInfo]
    is_truncated: bool
    next_part_number_marker: int | None


@dataclass(frozen=True, slots=True)
class CompletePart:
    number: int
    etag: str                                      # as the client sent it, quotes stripped
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class HealReport:
    """What a heal pass did: counts plus one line per object it touched."""

    objects_scanned: int = 0
    objects_healed: int = 0
    shards_rebuilt: int = 0
    metadata_repaired: int = 0
    failures: int = 0
    repaired_by_reads: int = 0                     # keys reads had repaired (in the background) since the last pass
    details: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RewrapReport:
    """What a KMS re-wrap pass did (``objects/rewrap.py``): counts of versions with a KMS-wrapped data key,
    plus one line per problem."""

    versions_scanned: int = 0
    rewrapped: int = 0                             # now under a newer KMS key version
    unchanged: int = 0                             # already under the newest one
    skipped: int = 0                               # of another KMS backend, or changed during the pass
    failures: int = 0
    details: list[str] = field(default_factory=list)


class ObjectLayer(Protocol):
    # --- buckets ---------------------------------------------------------------------------------
    async def make_bucket(self, bucket: str, *, owner: str = "", owner_name: str = "",      # BucketAlreadyOwnedByYou
                          acl: bytes | None = None, ownership: str = "", object_lock: bool = False) -> None: ...
    async def delete_bucket(self, bucket: str) -> None: ...          # NoSuchBucket, BucketNotEmpty
    async def get_bucket_info(self, bucket: str) -> BucketInfo: ...  # NoSuchBucket
    async def list_buckets(self) -> list[BucketInfo]: ...            # sorted by name
    async def get_bucket_versioning(self, bucket: str) -> VersioningStatus: ...
    async def set_bucket_versioning(self, bucket: str, status: VersioningStatus) -> None: ...
    async def get_bucket_encryption(self, bucket: str) -> SseRequest | None: ...   # NoSuchBucket
    async def put_bucket_encryption(self, bucket: str, sse: SseRequest | None) -> None: ...  # None deletes
    # object lock (objects/object_lock.py; docs/object-lock.md)
    async def get_object_lock_config(self, bucket: str) -> LockConfig | None: ...     # None: not enabled
    async def put_object_lock_config(self, bucket: str, config: LockConfig) -> None: ...   # InvalidBucketState

    # --- objects ---------------------------------------------------------------------------------
    async def put_object(self, bucket: str, key: str, body: PutBody, opts: PutOptions) -> ObjectInfo:
        """Stream ``body`` into a new version (id chosen from the bucket's versioning state).

        Atomic: readers see the old version or the new one. Two concurrent PUTs leave one of them.
        """
        ...

    async def get_object(self, bucket: str, key: str, version_id: str | None = None, *,
                         customer_key: bytes | None = None) -> ObjectReader:
        """Open the latest (or given) version. A delete marker: latest -> NoSuchKey with header
        ``x-amz-delete-marker: true``; by version id -> MethodNotAllowed with the same header."""
        ...

    async def get_object_info(self, bucket: str, key: str, version_id: str | None = None, *,
                              customer_key: bytes | None = None) -> ObjectInfo:
        """SSE-C objects need ``customer_key`` (SseCustomerKeyRequired without, AccessDenied if wrong)."""
        ...

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None, *,
                            owner: str = "",    # owner: of a new delete marker ("" = the bucket's)
                            bypass_governance: bool = False) -> DeleteResult:
        """S3 semantics: unversioned removes; Enabled adds a delete marker; Suspended replaces the
        null version with a null delete marker; a version id removes exactly that version.
        Deleting a key that does not exist succeeds. A version under object lock is never removed
        (AccessDenied); GOVERNANCE retention yields to ``bypass_governance``."""
        ...

    async def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "",
                           marker: str = "", max_keys: int = 1000) -> ListObjectsResult:
        """Latest versions that are not delete markers, keys > ``marker``, in UTF-8 byte order."""
        ...

    async def list_object_versions(self, bucket: str, prefix: str = "", delimiter: str = "",
                                   key_marker: str = "", version_id_marker: str = "",
                                   max_keys: int = 1000) -> ListVersionsResult: ...

    async def put_object_tags(self, bucket: str, key: str, version_id: str | None,
                              tags: dict[str, str]) -> ObjectInfo: ...
    async def delete_object_tags(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo: ...
    async def put_object_acl(self, bucket: str, key: str, version_id: str | None,
                             acl: bytes | None) -> ObjectInfo: ...       # packed by api/acl.py
    async def put_object_retention(self, bucket: str, key: str, version_id: str | None, mode: LockMode | None,
                                   until: float, *, bypass_governance: bool = False) -> ObjectInfo: ...
    async def put_object_legal_hold(self, bucket: str, key: str, version_id: str | None,
                                    on: bool) -> ObjectInfo: ...

    # --- multipart -------------------------------------------------------------------------------
    async def new_multipart_upload(self, bucket: str, key: str, opts: PutOptions) -> str: ...
    async def put_object_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                              body: PutBody, opts: PutOptions) -> PartInfo: ...
    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo: ...
    async def list_parts(self, bucket: str, key: str, upload_id: str, part_number_marker: int = 0,
                         max_parts: int = 1000) -> ListPartsResult: ...
    async def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                        parts: list[CompletePart], opts: PutOptions) -> ObjectInfo:
        """Checks order (InvalidPartOrder), existence and ETags (InvalidPart), and that every part but
        the last is at least 5 MiB (EntityTooSmall); computes the multipart ETag and checksums."""
        ...

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None: ...
    async def list_multipart_uploads(self, bucket: str, prefix: str = "", delimiter: str = "",
                                     key_marker: str = "", upload_id_marker: str = "",
                                     max_uploads: int = 1000) -> ListUploadsResult: ...

    # --- healing ---------------------------------------------------------------------------------
    async def heal(self, bucket: str | None = None) -> HealReport:
        """Heal one bucket, or every bucket (None): rebuild missing/corrupt shards and metadata."""
        ...

    async def rewrap_keys(self, bucket: str | None = None) -> RewrapReport:
        """Re-wrap the data keys of one bucket, or every bucket, under their KMS keys' newest versions
        (NoSuchBucket, KMSUnavailable)."""
        ...

    async def close(self) -> None: ...
