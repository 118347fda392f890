"""The static KMS: one local 256-bit master key (MinIO's ``MINIO_KMS_SECRET_KEY``).

The key comes from ``kms_secret_key`` or ``kms_secret_key_file`` (``<key-id>:<base64 of 32 bytes>``);
with neither, from the config store's ``kms/static-key`` record (the same text), which the first node
to start creates under the record's lock, so nodes and workers starting at once end up with one key.
A record that cannot be read (below quorum) fails the start: a key is never created because a read
failed.

Wrap: ``wrapped = nonce(12) || AES-256-GCM(master, nonce, data_key, aad=key_id)`` (60 bytes), a fresh
random nonce per data key. The key has one version, so ``rewrap`` returns its input once it opens.
The master key sits in every node's settings or on the drives: it protects against a lost drive, not
against someone holding every drive. Production uses Vault.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage_engine.config import KMS_KEY_BYTES, parse_kms_secret_key
from storage_engine.crypto.kms import DataKey, KmsError, KmsInvalidCiphertext, KmsKeyNotFound

if TYPE_CHECKING:
    from storage_engine.cluster.config_store import ConfigStore
    from storage_engine.config import EngineSettings

log = logging.getLogger(__name__)

RECORD_KIND = "kms"
RECORD_NAME = "static-key"
CREATED_KEY_ID = "rustfs-static-key"      # id of a created key when kms_default_key_id names none
NONCE_BYTES = 12
WRAPPED_BYTES = NONCE_BYTES + KMS_KEY_BYTES + 16


class StaticKms:
    backend = "static"

    def __init__(self, key_id: str, key: bytes) -> None:
        if len(key) != KMS_KEY_BYTES:
            raise ValueError(f"a static KMS key is {KMS_KEY_BYTES} bytes")
        self.default_key_id = key_id
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return f"StaticKms(key_id={self.default_key_id!r})"

    async def generate_data_key(self, key_id: str) -> DataKey:
        self._check(key_id)
        plaintext = os.urandom(KMS_KEY_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        return DataKey(plaintext, nonce + self._aead.encrypt(nonce, plaintext, key_id.encode()))

    async def decrypt(self, key_id: str, wrapped: bytes) -> bytes:
        self._check(key_id)
        if len(wrapped) != WRAPPED_BYTES:
            raise KmsInvalidCiphertext(f"a data key wrapped by the static KMS is {WRAPPED_BYTES} bytes, "
                                       f"got {len(wrapped)}")
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise KmsInvalidCiphertext(f"the data key does not open under static key {key_id!r}") from None

    async def rewrap(self, key_id: str, wrapped: bytes) -> bytes:
        await self.decrypt(key_id, wrapped)
        return wrapped

    async def close(self) -> None:
        return None

    def _check(self, key_id: str) -> None:
        if key_id != self.default_key_id:
            raise KmsKeyNotFound(f"the static KMS has no key {key_id!r}")


async def load_static_kms(settings: EngineSettings, config: ConfigStore) -> StaticKms:
    """The static KMS of ``settings``: the given key, the key file, or the config store's record."""
    if settings.kms_secret_key.get_secret_value():
        key_id, key = parse_kms_secret_key(settings.kms_secret_key.get_secret_value())
    elif settings.kms_secret_key_file:
        key_id, key = _parse(_read_key_file(settings.kms_secret_key_file), f"file {settings.kms_secret_key_file}")
    else:
        key_id, key = await _stored_key(config, settings.kms_default_key_id or CREATED_KEY_ID)
    if settings.kms_default_key_id and settings.kms_default_key_id != key_id:
        raise KmsKeyNotFound(f"kms_default_key_id {settings.kms_default_key_id!r} is not the static key's id "
                             f"({key_id!r})")
    return StaticKms(key_id, key)


def _read_key_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KmsError(f"cannot read kms_secret_key_file {path}: {exc.__class__.__name__}") from None


def _parse(text: str, where: str) -> tuple[str, bytes]:
    try:
        return parse_kms_secret_key(text)
    except ValueError as exc:
        raise KmsError(f"the static KMS key in {where} is invalid: {exc}") from None


async def _stored_key(config: ConfigStore, key_id: str) -> tuple[str, bytes]:
    """The ``kms/static-key`` record, created under its lock (and read again there) when absent."""
    where = f"the config store record {RECORD_KIND}/{RECORD_NAME}"
    data = await config.get(RECORD_KIND, RECORD_NAME)
    if data is None:
        async with config.lock(RECORD_KIND, RECORD_NAME):
            data = await config.get(RECORD_KIND, RECORD_NAME)
            if data is None:
                data = f"{key_id}:{base64.b64encode(os.urandom(KMS_KEY_BYTES)).decode()}".encode()
                await config.put(RECORD_KIND, RECORD_NAME, data)
                log.info("static KMS: created key %r (kept in %s)", key_id, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KmsError(f"{where} is not a static KMS key") from None
    return _parse(text, where)
