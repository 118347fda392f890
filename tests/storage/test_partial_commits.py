"""A commit cut short by a crash, left on a read quorum of drives but short of a write quorum: reads and
listings agree that it exists, whichever drives it reached, and the healer completes it. Seen in
``tests/e2e/test_crash.py`` as a key that GET returned but LIST did not, when the listing walked only the
drives the commit had not reached (``ErasureSet.listing_width``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_helpers import BytesBody, read_all

from storage_engine.drives import paths
from storage_engine.erasure.heal import heal_object
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import PutOptions

BODIES = {"partial": b"partial" * 100_000, "small": b"small"}     # erasure-coded, and inline


@pytest.mark.parametrize("missing", [(0, 1), (2, 3), (1, 3)])
def test_a_key_on_two_of_four_drives_is_read_and_listed_alike(with_layer, tmp_path: Path,
                                                                missing: tuple[int, int]) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for key, body in BODIES.items():
            await layer.put_object("bkt", key, BytesBody(body), PutOptions())
        for key in BODIES:
            for pos in missing:                              # the commit never reached these drives
                (tmp_path / f"d{pos}" / "bkt" / paths.meta_path(key)).unlink()
        assert [o.key for o in (await layer.list_objects("bkt")).objects] == sorted(BODIES)
        for key, body in BODIES.items():
            assert await read_all(layer, "bkt", key) == body
            await heal_object(layer.all_sets[0], "bkt", key)
            assert all((tmp_path / f"d{p}" / "bkt" / paths.meta_path(key)).exists() for p in range(4))
    with_layer(scenario)
