"""Temporary areas of processes sharing a drive (``drives/local.py``): preparing a drive sweeps the areas of
processes that are gone, and never the area of one that is starting at the same moment."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from multiprocessing.synchronize import Barrier
from pathlib import Path

from storage_engine.drives.local import LocalDrive

PROCESSES, ROUNDS = 4, 15


def _prepare_then_check(root: str, barrier: Barrier) -> None:
    async def main() -> None:
        drive = LocalDrive(root)
        barrier.wait(30)
        await drive.prepare()
        barrier.wait(30)                  # every process has prepared: each one's area must still stand
        assert os.path.isfile(os.path.join(drive.tmp_root, "owner.lock")), "a live process's area was swept"
        await drive.close()
    asyncio.run(main())


def test_processes_starting_together_keep_their_areas(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for attempt in range(ROUNDS):
        root = tmp_path / f"d{attempt}"
        root.mkdir()
        barrier = ctx.Barrier(PROCESSES)
        procs = [ctx.Process(target=_prepare_then_check, args=(str(root), barrier)) for _ in range(PROCESSES)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [p.exitcode for p in procs] == [0] * PROCESSES, f"round {attempt}"


def _prepare_and_crash(root: str) -> None:
    asyncio.run(LocalDrive(root).prepare())
    os._exit(0)                           # no close(): the area stays, as after kill -9


def test_the_area_of_a_process_that_is_gone_is_swept(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_prepare_and_crash, args=(str(tmp_path),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    (gone,) = (tmp_path / ".rustfs.sys" / "tmp").iterdir()
    (gone / "half-written").write_bytes(b"x")

    async def main() -> tuple[list[str], str]:
        drive = LocalDrive(str(tmp_path))
        await drive.prepare()
        areas = [p.name for p in (tmp_path / ".rustfs.sys" / "tmp").iterdir()]
        await drive.close()
        return areas, os.path.basename(drive.tmp_root)
    areas, ours = asyncio.run(main())
    assert areas == [ours] and ours != gone.name
