"""Helpers for driving the object layer directly (no HTTP): bodies, layer setup, asyncio runner.

A module of its own (not conftest.py), so subprocesses and the top-level tests/conftest.py never
confuse the two."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from storage_engine.config import EngineSettings
from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.topology import Pool

T = TypeVar("T")


class BytesBody:
    """A PutBody over bytes, handing out data in chunks no larger than ``chunk`` like a socket would."""

    def __init__(self, data: bytes, chunk: int = 1 << 20, checksums: dict[str, str] | None = None) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._chunk = chunk
        self._checksums = checksums or {}

    async def read(self, n: int) -> bytes:
        out = bytes(self._data[self._pos:self._pos + n])
        self._pos += len(out)
        return out

    def checksums(self) -> dict[str, str]:
        return dict(self._checksums)


class GeneratedBody:
    """A long deterministic body produced on the fly (never held in memory)."""

    def __init__(self, size: int, seed: int = 1) -> None:
        self.size = size
        self._left = size
        self._block = os.urandom(1 << 16) if seed else bytes(1 << 16)

    async def read(self, n: int) -> bytes:
        n = min(n, self._left)
        self._left -= n
        reps, rest = divmod(n, len(self._block))
        return self._block * reps + self._block[:rest]

    def checksums(self) -> dict[str, str]:
        return {}


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def drive_paths(root: Path, count: int = 4) -> list[str]:
    return [str(root / f"d{i}") for i in range(count)]


def settings(**overrides: Any) -> EngineSettings:
    values: dict[str, Any] = {"heal_interval_seconds": 0}
    values.update(overrides)
    return EngineSettings(**values)


async def open_layer(root: Path, count: int = 4, **overrides: Any) -> ErasureObjectLayer:
    drives = drive_paths(root, count)
    return await open_object_layer([Pool(tuple(drives), count)], settings(**overrides))


async def read_all(layer: ErasureObjectLayer, bucket: str, key: str, version_id: str | None = None,
                   offset: int = 0, length: int | None = None) -> bytes:
    reader = await layer.get_object(bucket, key, version_id)
    try:
        return b"".join([chunk async for chunk in reader.stream(offset, length)])
    finally:
        await reader.close()
