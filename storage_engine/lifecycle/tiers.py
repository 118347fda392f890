"""Tiers: where transitioned objects' stored bytes live (docs/tiering.md "Tiers").

One interface for both kinds: a warm pool of drives (``lifecycle.warm.PoolTier``) and a remote S3 bucket
(``lifecycle.remote.RemoteTier``). A tier stores opaque bytes under a key the engine chooses
(``remote_key``), never the object's name; encrypted objects go out as ciphertext.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Protocol

from storage_engine import errors


class TierError(Exception):
    """The tier could not do what was asked (unreachable, refused, timed out): the message says why."""


class TierUnavailable(errors.ServiceUnavailable):  # type: ignore[misc, valid-type]
    """A read of an object whose data sits on a tier that does not answer (503, retryable)."""

    def __init__(self, tier: str, reason: str) -> None:
        super().__init__(f"The object's data is on tier {tier}, which is unavailable: {reason}. Please retry.")


class Tier(Protocol):
    name: str
    kind: str                     # "pool" or "s3"

    async def put(self, key: str, body: AsyncIterator[bytes | memoryview], size: int) -> str:
        """Store exactly ``size`` bytes from ``body`` under ``key``; returns the remote version id ('' if
        none). Raises TierError (nothing usable stored; a partial upload is cleaned up where possible)."""
        ...

    def get(self, key: str, version: str, offset: int, length: int) -> AsyncIterator[bytes | memoryview]:
        """The stored bytes ``[offset, offset + length)``. Raises TierError before the first piece when the
        tier does not answer, and mid-stream when it stops."""
        ...

    async def delete(self, key: str, version: str) -> None:
        """Remove the key (a missing key is not an error). Raises TierError."""
        ...

    async def probe(self) -> None:
        """Put, read back and delete a small random key. Raises TierError saying which step failed."""
        ...

    async def close(self) -> None:
        ...


def remote_key() -> str:
    """A fresh key for a transitioned version: ``<u[0:2]>/<u[2:4]>/<u>`` of a random uuid (no object name
    leaks to the tier, and keys spread over prefixes)."""
    u = uuid.uuid4().hex
    return f"{u[0:2]}/{u[2:4]}/{u}"
