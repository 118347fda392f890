"""Server-side encryption at the HTTP edge: request headers -> ``SseRequest`` / customer key, and
``SseInfo`` -> response headers (docs/encryption.md; errors and wording as AWS's).

Which headers each request kind accepts:

- PutObject, CreateMultipartUpload, CopyObject (destination): SSE-S3 (``x-amz-server-side-encryption:
  AES256``), SSE-KMS (``aws:kms`` with an optional key id and encryption context) or the SSE-C triple
  (:func:`put_sse`);
- UploadPart, UploadPartCopy (destination): only the SSE-C triple, which must be the upload's key
  (:func:`part_customer_key`);
- GetObject, HeadObject: only the SSE-C triple; ``x-amz-server-side-encryption`` is a 400 as on AWS
  (:func:`read_customer_key`);
- CopyObject, UploadPartCopy (source): the ``x-amz-copy-source-server-side-encryption-customer-*`` triple
  (:func:`copy_source_customer_key`).

A customer key travels only over TLS, unless ``settings.sse_c_allow_insecure`` (a TLS-terminating proxy in
front, or tests). The key is checked against its MD5 here and never stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from storage_engine.config import EngineSettings
from storage_engine.errors import InvalidArgument, InvalidRequest, SseCustomerKeyInsecure
from storage_engine.http.types import Headers
from storage_engine.objects.types import SseInfo, SseRequest

SSE = "x-amz-server-side-encryption"
SSE_KMS_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
SSE_CONTEXT = "x-amz-server-side-encryption-context"
SSE_BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"
SSE_C_PREFIX = "x-amz-server-side-encryption-customer-"
COPY_SOURCE_SSE_C_PREFIX = "x-amz-copy-source-server-side-encryption-customer-"

AES256 = "AES256"
AWS_KMS = "aws:kms"
CUSTOMER_KEY_SIZE = 32


def _customer_key(headers: Headers, prefix: str, secure: bool, settings: EngineSettings) -> bytes | None:
    """The SSE-C triple under ``prefix`` -> the 32-byte key (checked against its MD5), or None if absent."""
    algorithm = headers.get(prefix + "algorithm")
    key_b64 = headers.get(prefix + "key")
    key_md5 = headers.get(prefix + "key-md5")
    if algorithm is None and key_b64 is None and key_md5 is None:
        return None
    if not secure and not settings.sse_c_allow_insecure:
        raise SseCustomerKeyInsecure()
    if algorithm is None:
        raise InvalidArgument("Requests specifying Server Side Encryption with Customer provided keys must "
                              "provide a valid encryption algorithm.")
    if algorithm != AES256:
        raise InvalidArgument("The encryption algorithm specified is not valid.")
    if not key_b64:
        raise InvalidArgument("Requests specifying Server Side Encryption with Customer provided keys must "
                              "provide an appropriate secret key.")
    if not key_md5:
        raise InvalidArgument("Requests specifying Server Side Encryption with Customer provided keys must "
                              "provide the client calculated MD5 of the secret key.")
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("The secret key was invalid for the specified algorithm.") from None
    if len(key) != CUSTOMER_KEY_SIZE:
        raise InvalidArgument("The secret key was invalid for the specified algorithm.")
    if base64.b64encode(hashlib.md5(key).digest()).decode() != key_md5.strip():
        raise InvalidArgument("The calculated MD5 hash of the key did not match the hash that was provided.")
    return key


def _context(raw: str) -> dict[str, str]:
    """``x-amz-server-side-encryption-context``: base64 of a JSON object whose values are strings."""
    try:
        value: object = json.loads(base64.b64decode(raw.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise InvalidArgument("The header 'x-amz-server-side-encryption-context' shall be Base64-encoded "
                              "UTF-8 JSON.") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):       # pyright: ignore[reportUnknownVariableType]
        raise InvalidArgument("The header 'x-amz-server-side-encryption-context' must be a JSON object of "
                              "string values.")
    return {str(k): str(v) for k, v in value.items()}    # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]


def _bucket_key(headers: Headers) -> None:
    raw = headers.get(SSE_BUCKET_KEY)
    if raw is not None and raw.strip().lower() not in ("true", "false"):
        raise InvalidArgument("The header 'x-amz-server-side-encryption-bucket-key-enabled' must be true or false.")


def put_sse(headers: Headers, secure: bool, settings: EngineSettings) -> SseRequest | None:
    """PutObject, CreateMultipartUpload, CopyObject's destination: what the request asks for (None: nothing,
    so the bucket default or "encrypt everything" decides)."""
    customer_key = _customer_key(headers, SSE_C_PREFIX, secure, settings)
    mode = headers.get(SSE)
    key_id = headers.get(SSE_KMS_KEY_ID)
    context = headers.get(SSE_CONTEXT)
    _bucket_key(headers)
    if customer_key is not None:
        if mode is not None or key_id is not None or context is not None:
            raise InvalidArgument("Server Side Encryption with Customer provided key is incompatible with the "
                                  "encryption method specified.")
        return SseRequest(mode="C", customer_key=customer_key)
    if mode is None:
        if key_id is not None or context is not None:
            raise InvalidArgument("Server Side Encryption with AWS KMS managed key requires HTTP header "
                                  "x-amz-server-side-encryption : aws:kms")
        return None
    if mode == AES256:
        if key_id is not None or context is not None:
            raise InvalidArgument("Server Side Encryption with AWS KMS managed key requires HTTP header "
                                  "x-amz-server-side-encryption : aws:kms")
        return SseRequest(mode="S3")
    if mode == AWS_KMS:
        if key_id is not None and not key_id.strip():
            raise InvalidArgument("KMS key id must not be empty.")
        return SseRequest(mode="KMS", kms_key_id=key_id.strip() if key_id else None,
                          context=_context(context) if context is not None else {})
    raise InvalidArgument("The encryption method specified is not supported")


def read_customer_key(headers: Headers, secure: bool, settings: EngineSettings) -> bytes | None:
    """GetObject, HeadObject: only the SSE-C triple (the others describe how to write, so AWS refuses them)."""
    for name in (SSE, SSE_KMS_KEY_ID, SSE_CONTEXT):
        if headers.get(name) is not None:
            raise InvalidArgument(f"The header '{name}' is not supported on GET or HEAD requests.")
    return _customer_key(headers, SSE_C_PREFIX, secure, settings)


def part_customer_key(headers: Headers, secure: bool, settings: EngineSettings) -> SseRequest | None:
    """UploadPart, UploadPartCopy: the upload's SSE-C key (the layer checks it is the upload's)."""
    for name in (SSE, SSE_KMS_KEY_ID, SSE_CONTEXT):
        if headers.get(name) is not None:
            raise InvalidRequest(f"The header '{name}' is not supported on an upload part: the encryption is "
                                 "set by CreateMultipartUpload.")
    key = _customer_key(headers, SSE_C_PREFIX, secure, settings)
    return SseRequest(mode="C", customer_key=key) if key is not None else None


def copy_source_customer_key(headers: Headers, secure: bool, settings: EngineSettings) -> bytes | None:
    """CopyObject, UploadPartCopy: the key that opens an SSE-C source."""
    return _customer_key(headers, COPY_SOURCE_SSE_C_PREFIX, secure, settings)


def sse_headers(info: SseInfo | None, *, with_context: bool = False) -> list[tuple[str, str]]:
    """Response headers describing how an object (or upload) is encrypted; the context only on writes."""
    if info is None:
        return []
    if info.mode == "C":
        headers = [(SSE_C_PREFIX + "algorithm", AES256)]
        if info.customer_key_md5:
            headers.append((SSE_C_PREFIX + "key-MD5", info.customer_key_md5))
        return headers
    if info.mode == "S3":
        return [(SSE, AES256)]
    headers = [(SSE, AWS_KMS)]
    if info.kms_key_id:
        headers.append((SSE_KMS_KEY_ID, info.kms_key_id))
    if with_context and info.context:
        encoded = json.dumps(info.context, sort_keys=True, separators=(",", ":")).encode()
        headers.append((SSE_CONTEXT, base64.b64encode(encoded).decode()))
    headers.append((SSE_BUCKET_KEY, "false"))
    return headers


def customer_key_md5(key: bytes) -> str:
    """The base64 MD5 of a customer key, as the SSE-C response headers carry it."""
    return base64.b64encode(hashlib.md5(key).digest()).decode()
