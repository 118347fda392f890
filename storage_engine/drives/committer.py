"""Metadata commits of a file system's drives, in batches on one thread.

With a group commit (``drives/group_sync.py``) a metadata commit is: write the new content, wait for a
flush, rename it into place, wait for another flush. Run in the drives' thread pools, each of a small PUT's
four commits took a thread hop, two waits on the flush and a wake-up back to the event loop, and sixteen
threads renaming into one directory queued on its lock: thread switches were a third of the kernel's
samples. Here one thread per file system and process takes every commit queued meanwhile, writes them
all, flushes once, renames them all, flushes once, and hands the outcomes back to each event loop in
one call. Each commit keeps ``AtomicFiles.write``'s order, so crash safety is the same.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from storage_engine.drives.atomic import AtomicFiles, Staged
from storage_engine.drives.group_sync import GroupSync


@dataclass(slots=True)
class _Job:
    files: AtomicFiles
    full: str
    data: bytes
    move: tuple[str, str] | None
    volume: str                            # a directory that must still exist
    missing: Callable[[], BaseException]   # the error when it does not
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    staged: Staged | None = None
    error: BaseException | None = None


class Committer:
    """Commits of the drives that share ``sync`` (one file system), for this process."""

    def __init__(self, sync: GroupSync) -> None:
        self._sync = sync
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._thread: threading.Thread | None = None

    def submit(self, files: AtomicFiles, full: str, data: bytes, *, move: tuple[str, str] | None,
               volume: str, missing: Callable[[], BaseException]) -> asyncio.Future[None]:
        """``files.write(full, data, move=move)`` in the next batch, unless the directory ``volume`` is gone
        (then the future fails with ``missing()``); the future completes in the calling event loop once the
        write is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            self._queue.append(_Job(files, full, data, move, volume, missing, loop, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="committer", daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch, self._queue = self._queue, []
            self._commit(batch)
            by_loop: defaultdict[asyncio.AbstractEventLoop, list[_Job]] = defaultdict(list)
            for job in batch:
                by_loop[job.loop].append(job)
            for loop, jobs in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_deliver, jobs)
                except RuntimeError:
                    pass                   # that loop is closed: nobody waits for these any more

    def _commit(self, batch: list[_Job]) -> None:
        present: dict[str, bool] = {}      # each volume's directory, checked once a batch
        staged = [job for job in batch if self._stage(job, present)]
        if staged and not self._flush(staged):
            return
        changed = self._publish(staged)
        if changed and self._flush(changed):
            for job in changed:
                assert job.staged is not None
                job.files.recycle(job.staged)

    @staticmethod
    def _stage(job: _Job, present: dict[str, bool]) -> bool:
        try:
            exists = present.get(job.volume)
            if exists is None:
                exists = present[job.volume] = os.path.isdir(job.volume)
            if not exists:
                raise job.missing()        # the bucket is gone: do not recreate its directory
            job.staged = job.files.stage(job.full, job.data, move=job.move)
            return True
        except BaseException as exc:       # noqa: BLE001 - handed to the waiting request
            job.error = exc
            return False

    @staticmethod
    def _publish(staged: list[_Job]) -> list[_Job]:
        """Publish the staged jobs, each drive's at once (one listing-index append per directory); returns
        those that changed their names (the barrier after flushes the directories they changed)."""
        by_files: dict[AtomicFiles, list[tuple[_Job, Staged]]] = {}
        for job in staged:
            if job.staged is not None:
                by_files.setdefault(job.files, []).append((job, job.staged))
        changed: list[_Job] = []
        for files, pairs in by_files.items():
            outcomes = files.publish_all([pair[1] for pair in pairs])
            for (job, _), outcome in zip(pairs, outcomes):
                if isinstance(outcome, BaseException):
                    job.error = outcome
                else:
                    changed.append(job)
        return changed

    def _flush(self, jobs: list[_Job]) -> bool:
        """One barrier for ``jobs`` (all on this file system); on failure each of them fails."""
        try:
            self._sync.barrier(jobs[0].files.root)
            return True
        except OSError as exc:
            for job in jobs:
                job.error = exc
                if job.staged is not None:
                    job.staged.close()
            return False


def _deliver(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue                       # cancelled: the write happened (or not) all the same
        if job.error is None:
            job.future.set_result(None)
        else:
            job.future.set_exception(job.error)


_by_sync: dict[GroupSync, Committer] = {}
_registry_lock = threading.Lock()
# A forked worker has none of its parent's threads: its drives get committers of their own.
os.register_at_fork(after_in_child=_by_sync.clear)


def for_sync(sync: GroupSync) -> Committer:
    """The committer of the drives sharing ``sync``, in this process."""
    with _registry_lock:
        found = _by_sync.get(sync)
        if found is None:
            found = _by_sync[sync] = Committer(sync)
        return found
