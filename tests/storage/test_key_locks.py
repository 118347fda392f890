"""KeyLocker: names that share a lock-file stripe, nested locks, and bounded waits."""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
from pathlib import Path

import pytest
import xxhash

from storage_engine import errors
from storage_engine.erasure.locks import STRIPES, KeyLocker


def stripe(name: str) -> int:
    return xxhash.xxh64_intdigest(name.encode()) % STRIPES


def colliding_names() -> tuple[str, str]:
    """Two names whose flock stripes are the same (as a bucket's update and commit locks once were)."""
    first = "update/bucket-0"
    for i in itertools.count(1):
        other = f"commit/bucket-{i}"
        if stripe(other) == stripe(first):
            return first, other
    raise AssertionError("unreachable")


def test_a_nested_lock_in_the_same_stripe_does_not_wait_on_itself(tmp_path: Path) -> None:
    outer, inner = colliding_names()
    locker = KeyLocker(str(tmp_path))

    async def scenario() -> None:
        async with locker.lock(outer), locker.lock(inner):
            pass
        async with locker.lock(outer):              # every hold was given back
            pass

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_another_process_holding_the_stripe_excludes_us_until_it_lets_go(tmp_path: Path) -> None:
    name = "bucket/key"
    locker = KeyLocker(str(tmp_path), acquire_timeout=0.3)
    # A separate open file description conflicts like another worker process would.
    fd = os.open(tmp_path / f"{stripe(name):04x}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)

    async def scenario() -> None:
        with pytest.raises(errors.ServiceUnavailable):
            async with locker.lock(name):
                pass
        os.close(fd)                                # the other process lets go
        async with locker.lock(name):
            pass

    asyncio.run(scenario())


def test_while_we_hold_a_stripe_no_other_process_can_take_it(tmp_path: Path) -> None:
    first, second = colliding_names()
    locker = KeyLocker(str(tmp_path))

    def other_process_can_lock() -> bool:
        fd = os.open(tmp_path / f"{stripe(first):04x}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    async def scenario() -> None:
        async with locker.lock(first):
            async with locker.lock(second):
                assert not other_process_can_lock()
            assert not other_process_can_lock()     # ``first`` still holds the stripe
        assert other_process_can_lock()

    asyncio.run(scenario())


def test_a_name_held_too_long_in_process_answers_503(tmp_path: Path) -> None:
    locker = KeyLocker(str(tmp_path), acquire_timeout=0.2)

    async def scenario() -> None:
        release = asyncio.Event()
        held = asyncio.Event()

        async def holder() -> None:
            async with locker.lock("k"):
                held.set()
                await release.wait()

        task = asyncio.create_task(holder())
        await held.wait()
        with pytest.raises(errors.ServiceUnavailable):
            async with locker.lock("k"):
                pass
        release.set()
        await task
        async with locker.lock("k"):
            pass

    asyncio.run(scenario())
