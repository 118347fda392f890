"""The envelope: what an encrypted version persists (FORMAT.md, "Envelope"), packed into ``Version.sse``.

Reads route by the envelope (cipher, KMS backend, key id), never by the current settings. ``unpack`` is
strict: any damaged, unknown or inconsistent document raises EnvelopeError, and the reader answers 500
(never plaintext, never a guess).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage_engine.crypto.keys import IV_SIZE, MODES, SEALED_SIZE, Mode
from storage_engine.crypto.packages import PACKAGE_SIZE, Cipher

__all__ = ["ENVELOPE_VERSION", "KMS_BACKENDS", "Envelope", "EnvelopeError"]

ENVELOPE_VERSION = 1
KMS_BACKENDS = frozenset({"static", "vault"})
_KMS_FIELDS = ("kb", "kid", "wk")
_FIELDS = frozenset({"v", "m", "c", "ps", "iv", "sk", "ctx", *_KMS_FIELDS})


class EnvelopeError(Exception):
    """An envelope is damaged, of an unknown version, or inconsistent (e.g. SSE-C with a KMS key)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One encrypted version (or multipart upload): how its object key is sealed and its packages made.

    ``kms_backend``/``kms_key_id``/``wrapped_key`` are set for SSE-S3 and SSE-KMS (the KMS data key that
    is the external key) and None for SSE-C (the client brings the key). ``context`` is the client's
    SSE-KMS encryption context, ``{}`` otherwise.
    """

    mode: Mode
    cipher: Cipher
    package_size: int = PACKAGE_SIZE
    iv: bytes
    sealed_key: bytes
    kms_backend: str | None = None
    kms_key_id: str | None = None
    wrapped_key: bytes | None = None
    context: Mapping[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EnvelopeError(f"unknown SSE mode {self.mode!r}")
        if not isinstance(self.cipher, Cipher):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise EnvelopeError(f"unknown cipher {self.cipher!r}")
        if type(self.package_size) is not int or self.package_size != PACKAGE_SIZE:
            raise EnvelopeError(f"package size {self.package_size}: only {PACKAGE_SIZE} is supported")
        if not isinstance(self.iv, bytes) or len(self.iv) != IV_SIZE:
            raise EnvelopeError(f"iv is not {IV_SIZE} bytes")
        if not isinstance(self.sealed_key, bytes) or len(self.sealed_key) != SEALED_SIZE:
            raise EnvelopeError(f"sealed key is not {SEALED_SIZE} bytes")
        kms = (self.kms_backend, self.kms_key_id, self.wrapped_key)
        if self.mode == "C":
            if any(v is not None for v in kms):
                raise EnvelopeError("an SSE-C envelope has no KMS backend, key id or wrapped key")
        else:
            if self.kms_backend not in KMS_BACKENDS:
                raise EnvelopeError(f"unknown KMS backend {self.kms_backend!r}")
            if not isinstance(self.kms_key_id, str) or not self.kms_key_id:
                raise EnvelopeError("an SSE-S3/SSE-KMS envelope names its KMS key")
            if not isinstance(self.wrapped_key, bytes) or not self.wrapped_key:
                raise EnvelopeError("an SSE-S3/SSE-KMS envelope holds the wrapped data key")
        if not isinstance(self.context, Mapping) or not all(  # pyright: ignore[reportUnnecessaryIsInstance]
                isinstance(k, str) and isinstance(v, str) for k, v in self.context.items()):
            raise EnvelopeError("the encryption context maps strings to strings")
        if self.context and self.mode != "KMS":
            raise EnvelopeError("only SSE-KMS has an encryption context")

    def pack(self) -> dict[str, Any]:
        """The msgpack-ready document (``Version.sse["se"]``)."""
        doc: dict[str, Any] = {"v": ENVELOPE_VERSION, "m": self.mode, "c": int(self.cipher), "ps": self.package_size,
                               "iv": self.iv, "sk": self.sealed_key, "ctx": dict(self.context)}
        if self.mode != "C":
            doc.update(kb=self.kms_backend, kid=self.kms_key_id, wk=self.wrapped_key)
        return doc

    @classmethod
    def unpack(cls, doc: object) -> Envelope:
        """The envelope of a packed document; raises EnvelopeError if it is not exactly a valid one."""
        if not isinstance(doc, dict):
            raise EnvelopeError(f"an envelope is a map, not {type(doc).__name__}")
        d: dict[Any, Any] = doc  # pyright: ignore[reportUnknownVariableType]
        if d.get("v") != ENVELOPE_VERSION:
            raise EnvelopeError(f"unknown envelope version {d.get('v')!r}")
        unknown = set(d) - _FIELDS
        if unknown:
            raise EnvelopeError(f"unknown envelope fields {sorted(map(str, unknown))}")
        try:
            if type(d["c"]) is not int:
                raise TypeError
            cipher = Cipher(d["c"])
        except (KeyError, ValueError, TypeError):
            raise EnvelopeError(f"unknown cipher {d.get('c')!r}") from None
        missing = {"m", "ps", "iv", "sk", "ctx"} - set(d)
        if missing:
            raise EnvelopeError(f"envelope fields missing: {sorted(missing)}")
        if d["m"] == "C" and any(f in d for f in _KMS_FIELDS):
            raise EnvelopeError("an SSE-C envelope has no KMS fields")
        if d["m"] != "C" and not all(f in d for f in _KMS_FIELDS):
            raise EnvelopeError("an SSE-S3/SSE-KMS envelope has kb, kid and wk")
        ctx = d["ctx"]
        if not isinstance(ctx, dict):
            raise EnvelopeError("the encryption context is a map")
        return cls(mode=d["m"], cipher=cipher, iv=d["iv"], sealed_key=d["sk"], kms_backend=d.get("kb"),
                   kms_key_id=d.get("kid"), wrapped_key=d.get("wk"), context=dict(ctx),  # pyright: ignore[reportUnknownArgumentType]
                   package_size=d["ps"])
