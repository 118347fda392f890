"""Object keys (FORMAT.md, "Key hierarchy"): the object key, its seal, part keys, the ETag MAC. Pure, no I/O.

    external key (KMS data key, or the client's SSE-C key; never stored in clear)
      -> KEK = HMAC-SHA256(external, "rustfs-kek" || iv)                        iv: 32 random bytes
         sealed = nonce(12) || AES-256-GCM(KEK, nonce, OEK, aad(bucket, key, mode, context))
    object key OEK (32 random bytes per version / multipart upload)
      -> part key = HMAC-SHA256(OEK, "rustfs-part" || u32le(part_number))    each part one package stream
      -> ETag MAC = HMAC-SHA256(OEK, "rustfs-etag" || md5)[:16]              SSE-KMS and SSE-C ETags
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from collections.abc import Mapping
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "IV_SIZE", "KEY_SIZE", "MODES", "SEALED_SIZE", "KeyUnsealError", "customer_key_md5", "etag_mac",
    "new_object_key", "part_key", "seal_aad", "seal_object_key", "unseal_object_key",
]

Mode = Literal["S3", "KMS", "C"]
MODES: frozenset[str] = frozenset({"S3", "KMS", "C"})
KEY_SIZE = 32
IV_SIZE = 32
_NONCE = 12
SEALED_SIZE = _NONCE + KEY_SIZE + 16          # nonce || encrypted OEK || tag
MAX_PART = (1 << 32) - 1


class KeyUnsealError(Exception):
    """The sealed object key does not open: a wrong external key (SSE-C: the client's key), another
    bucket/key/mode/context than at the seal, or a damaged sealed key."""


def new_object_key() -> bytes:
    """32 random bytes: the object key of one version (or one multipart upload)."""
    return os.urandom(KEY_SIZE)


def part_key(object_key: bytes, part_number: int) -> bytes:
    """The package key of part ``part_number`` (a single PUT is part 1)."""
    _check_key("object key", object_key)
    if not 1 <= part_number <= MAX_PART:
        raise ValueError(f"part number {part_number} outside 1..{MAX_PART}")
    return hmac.digest(object_key, b"rustfs-part" + struct.pack("<I", part_number), "sha256")


def seal_aad(*, mode: str, bucket: str, key: str, context: Mapping[str, str]) -> bytes:
    """The seal's AAD: canonical JSON (sorted keys, no spaces, UTF-8) of bucket, key, mode and context."""
    if mode not in MODES:
        raise ValueError(f"unknown SSE mode {mode!r}")
    ctx = dict(context)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in ctx.items()):
        raise ValueError("the encryption context maps strings to strings")
    doc = {"bucket": bucket, "context": ctx, "key": key, "mode": mode}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def _kek(external_key: bytes, iv: bytes) -> AESGCM:
    return AESGCM(hmac.digest(external_key, b"rustfs-kek" + iv, "sha256"))


def _check_key(what: str, key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"the {what} is {KEY_SIZE} bytes, not {len(key)}")


def seal_object_key(external_key: bytes, object_key: bytes, *, mode: str, bucket: str, key: str,
                    context: Mapping[str, str]) -> tuple[bytes, bytes]:
    """Seal the object key under the external key, bound to bucket/key/mode/context -> (iv, sealed)."""
    _check_key("external key", external_key)
    _check_key("object key", object_key)
    aad = seal_aad(mode=mode, bucket=bucket, key=key, context=context)
    iv = os.urandom(IV_SIZE)
    nonce = os.urandom(_NONCE)
    return iv, nonce + _kek(external_key, iv).encrypt(nonce, object_key, aad)


def unseal_object_key(external_key: bytes, iv: bytes, sealed: bytes, *, mode: str, bucket: str, key: str,
                      context: Mapping[str, str]) -> bytes:
    """The object key sealed by ``seal_object_key`` with the same arguments; raises KeyUnsealError."""
    if len(external_key) != KEY_SIZE:
        raise KeyUnsealError(f"the external key is {len(external_key)} bytes, not {KEY_SIZE}")
    if len(iv) != IV_SIZE or len(sealed) != SEALED_SIZE:
        raise KeyUnsealError(f"damaged sealed key (iv {len(iv)} bytes, sealed {len(sealed)} bytes)")
    aad = seal_aad(mode=mode, bucket=bucket, key=key, context=context)
    try:
        return _kek(external_key, iv).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except InvalidTag:
        raise KeyUnsealError(f"the object key of {bucket}/{key} does not unseal (wrong key, or the sealed key "
                             f"belongs to another object, mode or context)") from None


def etag_mac(object_key: bytes, md5: bytes) -> str:
    """The ETag of an SSE-KMS / SSE-C single part: HMAC-SHA256(OEK, "rustfs-etag" || md5)[:16], hex."""
    _check_key("object key", object_key)
    if len(md5) != 16:
        raise ValueError(f"an MD5 is 16 bytes, not {len(md5)}")
    return hmac.digest(object_key, b"rustfs-etag" + md5, "sha256")[:16].hex()


def customer_key_md5(customer_key: bytes) -> str:
    """Base64 of the MD5 of an SSE-C key (the value of S3's ``...-customer-key-MD5`` header)."""
    return base64.b64encode(hashlib.md5(customer_key, usedforsecurity=False).digest()).decode("ascii")
