"""The KMS: where SSE-S3 and SSE-KMS data keys come from and how their wrapped forms open again.

A backend makes a fresh 256-bit data key per object (``generate_data_key``); the object keeps only the
wrapped form (``DataKey.wrapped``, the envelope's ``"wk"``) and asks the backend that wrapped it
(the envelope's ``"kb"``) to ``decrypt`` it on every read. Nothing is cached. Backends:

- ``static`` (:mod:`.static`): one local key, from the settings, a file, or created on the first start
  and kept in the config store;
- ``vault`` (:mod:`.vault`): Vault/OpenBao transit over HTTP.

Errors (``storage_engine.api`` maps them to S3 errors)::

    KmsError
     |-- KmsUnavailable         unreachable, timed out, 5xx after the retries  -> 503 KMSUnavailable
     |-- KmsDenied              the KMS refused (Vault 403)                     -> 403 AccessDenied
     |-- KmsKeyNotFound         no such key id                                  -> 400 KMS.NotFoundException
     '-- KmsInvalidCiphertext   the wrapped key does not open                   -> 500 InternalError

Messages never hold key material, tokens or secret ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from storage_engine.cluster.config_store import ConfigStore
    from storage_engine.config import EngineSettings

__all__ = [
    "DataKey", "Kms", "KmsDenied", "KmsError", "KmsInvalidCiphertext", "KmsKeyNotFound", "KmsUnavailable",
    "open_kms",
]


@dataclass(frozen=True, slots=True)
class DataKey:
    plaintext: bytes = field(repr=False)   # 32 bytes; never logged, never stored
    wrapped: bytes                         # what the envelope keeps (Vault: b"vault:vN:...")


class Kms(Protocol):
    backend: str                           # "static" | "vault" (the envelope's "kb")
    default_key_id: str

    async def generate_data_key(self, key_id: str) -> DataKey:
        """A fresh random 32-byte data key and its form wrapped under ``key_id``."""
        ...

    async def decrypt(self, key_id: str, wrapped: bytes) -> bytes:
        """The data key of ``wrapped`` (made by ``generate_data_key(key_id)`` or ``rewrap``)."""
        ...

    async def rewrap(self, key_id: str, wrapped: bytes) -> bytes:
        """``wrapped`` wrapped again under the newest version of ``key_id`` (the data key unchanged)."""
        ...

    async def close(self) -> None:
        ...


class KmsError(Exception):
    """A KMS operation failed."""


class KmsUnavailable(KmsError):
    """The KMS is unreachable, timed out, or answered 5xx after the retries."""


class KmsDenied(KmsError):
    """The KMS refused the request (Vault: 403 permission denied, after a fresh login)."""


class KmsKeyNotFound(KmsError):
    """The KMS has no key of this id."""


class KmsInvalidCiphertext(KmsError):
    """A wrapped data key that does not open (damaged, or wrapped under another key)."""


async def open_kms(settings: EngineSettings, config: ConfigStore) -> Kms:
    """The backend the settings choose: Vault with ``kms_backend`` 'vault', else the static key.

    The static key is ``kms_secret_key``, ``kms_secret_key_file``, or the config store's
    ``kms/static-key`` record, created here on the first start. Raises KmsError (a bad key file, a
    default key id the backend lacks) and the config store's quorum errors.
    """
    from storage_engine.metrics import metrics
    from storage_engine.metrics.kms import MeteredKms   # every call counted (rustfs_kms_*)

    try:
        if settings.kms_backend == "vault":
            from storage_engine.crypto.kms.vault import VaultKms
            kms: Kms = VaultKms(settings)
        else:
            from storage_engine.crypto.kms.static import load_static_kms
            kms = await load_static_kms(settings, config)
    except Exception:
        metrics.kms.opened(False)
        raise
    metrics.kms.opened(True)
    return MeteredKms(kms)
