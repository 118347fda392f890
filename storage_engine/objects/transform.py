"""The seam between an object's bytes and what is stored: a per-object transform pair (docs/encryption.md).

A PUT streams plaintext through a ``WriteTransform`` (encryption; compression later) into the erasure
coder; a GET maps the wanted plaintext span to the stored span and back through a ``ReadTransform``. The
transform's parameters live in the version's metadata (``Version.sse``), so a read never depends on the
current settings. Each transform belongs to one request: never share one between requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class WriteTransform(Protocol):
    async def update(self, plain: bytes) -> bytes | bytearray:
        """Plaintext, in order -> the bytes to store for it (may be ``b""`` while buffering). ``plain`` is
        not changed by the caller afterwards, so the transform may keep views into it."""
        ...

    async def finish(self) -> bytes | bytearray:
        """After the last ``update``: the remaining stored bytes (the final package)."""
        ...


class ReadTransform(Protocol):
    def stored_span(self, offset: int, length: int) -> tuple[int, int]:
        """Plaintext ``[offset, offset + length)`` -> (offset, length) of the stored bytes that cover it,
        over the version's stored bytes (the parts' stored sizes end to end)."""
        ...

    def decode(self, stored: AsyncIterator[bytes | memoryview], offset: int,
               length: int) -> AsyncIterator[bytes | memoryview]:
        """The stored bytes of ``stored_span(offset, length)``, in order -> exactly the plaintext
        ``[offset, offset + length)`` (pieces may be memoryviews, each over a buffer of its own). Raises
        when the stored bytes fail authentication."""
        ...
