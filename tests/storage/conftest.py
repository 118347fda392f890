"""Fixtures of the storage-layer tests (helpers live in storage_helpers.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from storage_helpers import open_layer, run

from storage_engine.objects.layer import ErasureObjectLayer

T = TypeVar("T")


@pytest.fixture
def with_layer(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``with_layer(async_fn, **settings)`` runs ``async_fn(layer)`` on a fresh 4-drive layer."""
    def runner(fn: Callable[[ErasureObjectLayer], Awaitable[T]], count: int = 4, **overrides: Any) -> T:
        async def main() -> T:
            layer = await open_layer(tmp_path, count, **overrides)
            try:
                return await fn(layer)
            finally:
                await layer.close()
        return run(main())
    yield runner
