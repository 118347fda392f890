"""Streaming hashers for the S3 ``x-amz-checksum-*`` algorithms, with base64 results.

    hasher = new_hasher("CRC32C")
    hasher.update(chunk)            # any bytes-like object; no copy
    hasher.b64()                    # "yZRlqg==": the value S3 sends in headers and trailers

The request-body wrapper (``auth/payload.py``) feeds every decoded byte through a
:class:`ChecksumSet`, which verifies the values sent in headers or trailers at the end of the body
(mismatch or a value of the wrong size -> BadDigest, malformed base64 -> InvalidDigest) and reports the verified values.

Library choice (see PERFORMANCE-NOTES.md): ``crc32c`` for CRC32C, ``awscrt`` for CRC64NVME (also
able to combine CRCs for multipart full-object checksums), zlib for CRC32, hashlib for SHA.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping
from typing import Protocol, cast

import crc32c
from awscrt import checksums as crt_checksums

from storage_engine.errors import BadDigest, InvalidDigest, InvalidRequest

ALGORITHMS: tuple[str, ...] = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
"""Algorithm names as S3 spells them (upper case); headers are ``x-amz-checksum-<lower>``."""

# Raw digest sizes: a value of another size is BadDigest before a byte is read.
DIGEST_SIZES: dict[str, int] = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}

HEADER_PREFIX = "x-amz-checksum-"


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview) -> None: ...
    def digest(self) -> bytes: ...
    def b64(self) -> str: ...


class _Crc:
    """A running CRC over an integer state; ``digest`` is big-endian, as S3 encodes it."""

    __slots__ = ("_value", "_fn", "_size")

    def __init__(self, fn: object, size: int) -> None:
        self._value = 0
        self._fn = fn
        self._size = size

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._value = self._fn(data, self._value)  # type: ignore[operator]

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode()


class _Sha:
    __slots__ = ("_hash",)

    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()

    def b64(self) -> str:
        return base64.b64encode(self._hash.digest()).decode()


def _crc32c(data: bytes | bytearray | memoryview, value: int) -> int:
    return crc32c.crc32c(data, value)


def _crc64nvme(data: bytes | bytearray | memoryview, value: int) -> int:
    # Typed as bytes, but awscrt takes any buffer (memoryview included) without a copy.
    return crt_checksums.crc64nvme(cast(bytes, data), value)


def _crc32_function() -> object:
    """ISA-L's CRC32 when the optional ``isal`` package is installed (3-4x zlib's speed), else zlib's."""
    try:
        from isal import isal_zlib  # type: ignore[import-not-found]
    except ImportError:
        return zlib.crc32
    return isal_zlib.crc32  # pyright: ignore[reportUnknownMemberType]


_CRC32 = _crc32_function()


def new_hasher(algorithm: str) -> Hasher:
    """A fresh streaming hasher for ``algorithm`` (case-insensitive); InvalidRequest if unknown."""
    name = algorithm.upper()
    if name == "CRC32":
        return _Crc(_CRC32, 4)
    if name == "CRC32C":
        return _Crc(_crc32c, 4)
    if name == "CRC64NVME":
        return _Crc(_crc64nvme, 8)
    if name == "SHA1":
        return _Sha("sha1")
    if name == "SHA256":
        return _Sha("sha256")
    raise InvalidRequest(f"Unsupported checksum algorithm {algorithm!r}.")


def checksum_of(algorithm: str, data: bytes | bytearray | memoryview) -> str:
    """The base64 checksum of one buffer (a convenience for tests and small bodies)."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.b64()


def validate_b64(algorithm: str, value: str) -> str:
    """``value`` if it is well-formed base64 of the algorithm's digest size: not base64 is InvalidDigest, a
    value of another size (which cannot match the body) BadDigest, as AWS answers."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDigest(f"The {algorithm.lower()} checksum is not valid base64.") from None
    if not raw:
        raise InvalidDigest(f"The {algorithm.lower()} checksum is empty.")
    if len(raw) != DIGEST_SIZES[algorithm]:
        raise BadDigest(f"The {algorithm.lower()} you specified did not match the calculated checksum.")
    return value.strip()


def algorithm_of_header(name: str) -> str | None:
    """``"x-amz-checksum-crc32"`` -> ``"CRC32"``; None for other names or unknown algorithms."""
    if not name.startswith(HEADER_PREFIX):
        return None
    algorithm = name[len(HEADER_PREFIX):].upper()
    return algorithm if algorithm in DIGEST_SIZES else None


class ChecksumSet:
    """Hashes a body once per algorithm in use and verifies the expected values at the end.

    ``expected`` maps algorithm -> base64 value, or None when the value is still unknown (it
    arrives in a trailer, or the client only named the algorithm and wants it computed).
    """

    __slots__ = ("_hashers", "_expected", "_verified")

    def __init__(self, expected: Mapping[str, str | None]) -> None:
        self._expected: dict[str, str | None] = {}
        for algorithm, value in expected.items():
            algorithm = algorithm.upper()
            if algorithm not in DIGEST_SIZES:
                raise InvalidRequest(f"Unsupported checksum algorithm {algorithm!r}.")
            self._expected[algorithm] = None if value is None else validate_b64(algorithm, value)
        self._hashers = [(algorithm, new_hasher(algorithm)) for algorithm in self._expected]
        self._verified: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self._hashers)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        for _, hasher in self._hashers:
            hasher.update(data)

    def set_expected(self, algorithm: str, value: str) -> None:
        """A value that arrived in a trailer; the algorithm must have been announced."""
        algorithm = algorithm.upper()
        if algorithm not in self._expected:
            raise InvalidRequest(f"The trailer x-amz-checksum-{algorithm.lower()} was not declared in x-amz-trailer.")
        self._expected[algorithm] = validate_b64(algorithm, value)

    def verify(self) -> dict[str, str]:
        """Compare every computed value with its expected one; BadDigest on a mismatch.

        Algorithms without an expected value are reported as computed.
        """
        verified: dict[str, str] = {}
        for algorithm, hasher in self._hashers:
            actual = hasher.b64()
            expected = self._expected[algorithm]
            if expected is not None and base64.b64decode(expected) != base64.b64decode(actual):
                raise BadDigest(f"The {algorithm.lower()} you specified did not match the calculated checksum.")
            verified[algorithm] = actual
        self._verified = verified
        return verified

    @property
    def verified(self) -> dict[str, str]:
        return dict(self._verified)
