"""Metadata commits in batches (drives/committer.py): concurrent commits share their flushes, every commit
keeps the order of an atomic write (content flushed before its name points at it, the rename flushed before
it counts), and a failure reaches exactly the commits it concerns."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path

import pytest
from storage_helpers import BytesBody, read_all, run

from storage_engine import errors
from storage_engine.drives import group_sync
from storage_engine.drives.atomic import AtomicFiles
from storage_engine.drives.committer import Committer
from storage_engine.drives.group_sync import GroupSync
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import PutOptions

COMMITS = 40


class _Flushes:
    """Stands in for syncfs: notes which targets exist at each flush; the first one waits for ``go``."""

    def __init__(self, targets: list[Path], fail: bool = False) -> None:
        self.targets = targets
        self.fail = fail
        self.seen: list[list[bool]] = []   # per flush: whether each target existed when it began
        self.go = threading.Event()

    def __call__(self, path: str) -> None:
        if not self.seen:
            assert self.go.wait(30)
        self.seen.append([t.exists() for t in self.targets])
        if self.fail:
            raise OSError(5, "Input/output error", path)


def _commit_all(files: AtomicFiles, committer: Committer, flushes: _Flushes,
                contents: list[bytes]) -> list[BaseException | None]:
    async def scenario() -> list[BaseException | None]:
        futures = [committer.submit(files, str(target), data, move=None, volume=str(target.parent),
                                    missing=errors.NoSuchBucket)
                   for target, data in zip(flushes.targets, contents)]
        flushes.go.set()                   # every commit is queued before the first flush ends
        return await asyncio.gather(*futures, return_exceptions=True)
    return run(scenario())


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> tuple[AtomicFiles, Committer, _Flushes]:
    sync = GroupSync()
    files = AtomicFiles(str(tmp_path), str(tmp_path / "tmp"), sync)
    (tmp_path / "bkt").mkdir()
    flushes = _Flushes([tmp_path / "bkt" / f"k{i}.xl.meta" for i in range(COMMITS)], fail)
    monkeypatch.setattr(group_sync, "_sync", flushes)
    return files, Committer(sync), flushes


def test_concurrent_commits_share_two_flushes_per_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files, committer, flushes = _setup(tmp_path, monkeypatch)
    contents = [os.urandom(100 + i) for i in range(COMMITS)]
    assert _commit_all(files, committer, flushes, contents) == [None] * COMMITS
    assert [t.read_bytes() for t in flushes.targets] == contents
    # The thread took the first commit(s) at once and the rest while the first flush waited: two batches
    # at most, each flushed before its renames and after them.
    assert len(flushes.seen) in (2, 4)
    first_batch = flushes.seen[1].count(True)
    assert first_batch >= 1 and flushes.seen[0] == [False] * COMMITS   # content flushed before any rename
    if len(flushes.seen) == 4:
        assert flushes.seen[2] == flushes.seen[1]                      # the second batch's content first
    assert flushes.seen[-1] == [True] * COMMITS                        # every rename flushed before it counts


def test_a_failed_flush_fails_its_commits_and_leaves_the_old_content(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    files, committer, flushes = _setup(tmp_path, monkeypatch, fail=True)
    for target in flushes.targets[::2]:
        target.write_bytes(b"old")
    results = _commit_all(files, committer, flushes, [b"new"] * COMMITS)
    assert all(isinstance(r, OSError) for r in results)
    assert [t.read_bytes() if t.exists() else None for t in flushes.targets] == [
        b"old" if i % 2 == 0 else None for i in range(COMMITS)]


def test_a_missing_volume_fails_only_its_own_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit into a directory that is gone (a deleted bucket) fails without recreating it; the others
    of its batch go through, and each volume is checked once a batch, not once a commit."""
    files, committer, flushes = _setup(tmp_path, monkeypatch)
    flushes.go.set()
    gone = tmp_path / "gone"
    checked: list[str] = []
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda path: checked.append(str(path)) or real_isdir(path))

    async def scenario() -> list[BaseException | None]:
        futures = [committer.submit(files, str(target if i != 3 else gone / "k.xl.meta"), b"x", move=None,
                                    volume=str(target.parent if i != 3 else gone), missing=errors.NoSuchBucket)
                   for i, target in enumerate(flushes.targets)]
        return await asyncio.gather(*futures, return_exceptions=True)
    results = run(scenario())
    assert isinstance(results[3], errors.NoSuchBucket)
    assert [r for i, r in enumerate(results) if i != 3] == [None] * (COMMITS - 1)
    assert [t.exists() for t in flushes.targets] == [i != 3 for i in range(COMMITS)]
    assert not gone.exists()
    assert checked.count(str(tmp_path / "bkt")) <= 2      # one or two batches


def test_objects_written_through_the_committer_read_back(with_layer, tmp_path: Path) -> None:
    """The layer with a group commit (as drives that are file systems of their own have it)."""
    if GroupSync.for_drive(str(tmp_path), "on") is None:
        pytest.skip("no syncfs here")

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        bodies = {f"k{i}": os.urandom(i * 997 % 300_000) for i in range(48)}   # inline and not
        await asyncio.gather(*(layer.put_object("bkt", k, BytesBody(b), PutOptions()) for k, b in bodies.items()))
        bodies.update({k: os.urandom(5000) for k in list(bodies)[::3]})       # overwrites
        await asyncio.gather(*(layer.put_object("bkt", k, BytesBody(bodies[k]), PutOptions())
                               for k in list(bodies)[::3]))
        for key, body in bodies.items():
            assert await read_all(layer, "bkt", key) == body
        listed = (await layer.list_objects("bkt", max_keys=1000)).objects
        assert sorted(o.key for o in listed) == sorted(bodies)
        for drive in sorted(tmp_path.glob("d*")):
            shutil.rmtree(drive / "bkt")                       # the bucket's directories gone under us
        with pytest.raises(errors.NoSuchBucket):
            await layer.put_object("bkt", "late", BytesBody(b"x"), PutOptions())
    with_layer(scenario, group_commit="on")


def test_a_swapped_out_file_is_reused_as_a_spare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files, committer, flushes = _setup(tmp_path, monkeypatch)
    flushes.go.set()
    target = flushes.targets[0]
    target.write_bytes(b"first")
    inodes = set()

    async def scenario() -> None:
        for i in range(60):                # past the spares' FIFO delay, then reusing them
            await committer.submit(files, str(target), bytes([i]) * (600 - i), move=None, volume=str(target.parent),
                                   missing=errors.NoSuchBucket)
            inodes.add(target.stat().st_ino)
            assert target.read_bytes() == bytes([i]) * (600 - i)
    run(scenario())
    assert len(inodes) < 60                # spares were reused


def test_a_shard_is_flushed_by_the_commit_that_publishes_it(with_layer, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """With a group commit a shard's close makes no flush of its own: the commit's first barrier, before
    the metadata points at the data, flushes every shard whole (a 1 MiB PUT waited for three barriers in
    turn, now two). A rename of a new file flushes it before its new name, too."""
    if GroupSync.for_drive(str(tmp_path), "on") is None:
        pytest.skip("no syncfs here")
    seen: list[tuple[str, list[int], bool]] = []      # per flush: its thread, the part files' sizes, metadata?
    phase = "put"

    def noting(path: str) -> None:
        parts = sorted(tmp_path.glob("d*/**/part.1"))
        if phase == "rename":
            parts = [p for p in parts if p.parent.name in ("new", "renamed")]
        seen.append((threading.current_thread().name, [p.stat().st_size for p in parts],
                     any(tmp_path.glob("d*/bkt/big.xl.meta"))))
    monkeypatch.setattr(group_sync, "_sync", noting)
    body = os.urandom(1 << 20)

    async def scenario(layer: ErasureObjectLayer) -> list[tuple[str, list[int], bool]]:
        await layer.make_bucket("bkt")
        seen.clear()
        await layer.put_object("bkt", "big", BytesBody(body), PutOptions())
        put = list(seen)
        assert await read_all(layer, "bkt", "big") == body
        drive = layer.all_sets[0].drives[0]
        assert drive is not None
        writer = await drive.create_shard(".rustfs.sys", "tmp/new/part.1", 4096)
        await writer.write(b"x" * 4096)
        await writer.close()
        nonlocal phase
        phase = "rename"
        seen.clear()
        await drive.rename(".rustfs.sys", "tmp/new/part.1", ".rustfs.sys", "tmp/renamed/part.1")
        return put
    put = with_layer(scenario, group_commit="on")
    assert {thread for thread, _, _ in put} == {"committer"}        # no flush from a shard's close
    _, sizes, published = put[0]
    assert len(sizes) == 4 and len(set(sizes)) == 1 and sizes[0] >= len(body) // 2 and not published
    assert put[-1][2]
    assert len(put) in (2, 4)                                        # one or two batches of the 4 commits
    assert [flushed for _, flushed, _ in seen] == [[4096], [4096]]   # flushed before the rename and after
