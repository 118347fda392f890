"""Healing at the object layer: full passes over buckets, and a background healer.

- ``heal(bucket | None)`` walks every key any drive knows (the union, so keys missing from some drives
  are found too), heals each, and reports counts plus a line per key it touched. The config records
  (bucket metadata among them) and bucket directories are healed first, so a replaced drive gets its
  buckets back.
- Reads that hit a missing or rotten shard, or drives with stale metadata, queue the key; a background
  task heals queued keys one at a time.
- Every ``heal_interval_seconds`` (0 = never) one process (whoever holds the scanner lock) runs a full pass.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import AsyncIterator

from storage_engine.drives.base import DriveError
from storage_engine.drives.health import CheckedDrive
from storage_engine.drives.local import LocalDrive
from storage_engine.erasure.heal import heal_object
from storage_engine.erasure.set import ErasureSet
from storage_engine.errors import InsufficientReadQuorum
from storage_engine.objects.buckets import BucketStore
from storage_engine.objects.placement import Placement
from storage_engine.objects.types import HealReport

log = logging.getLogger(__name__)

WALK_BATCH = 1000
QUEUE_LIMIT = 10000


class Healer:
    def __init__(self, placement: Placement, buckets: BucketStore, interval: int) -> None:
        self.placement = placement
        self.buckets = buckets
        self.interval = interval
        self._queue: asyncio.Queue[tuple[ErasureSet, str, str]] = asyncio.Queue()
        self._queued: set[tuple[int, int, str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = False
        self._repaired_by_reads = 0           # keys the background worker repaired since the last full pass

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._worker(), name="heal-worker"))
        if self.interval > 0:
            self._tasks.append(asyncio.create_task(self._scanner(), name="heal-scanner"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def schedule_full_heal(self) -> None:
        """Heal everything in the background (a replaced drive was formatted into its slot)."""
        async def run() -> None:
            report = await self.heal(None)
            log.info("heal after drive replacement: %d scanned, %d healed, %d shards rebuilt, %d failures",
                     report.objects_scanned, report.objects_healed, report.shards_rebuilt, report.failures)
        self._tasks.append(asyncio.create_task(run(), name="heal-replaced"))

    def request(self, es: ErasureSet, bucket: str, key: str) -> None:
        """Queue one key for background healing (deduplicated, bounded)."""
        ident = (es.pool, es.index, bucket, key)
        if ident in self._queued or len(self._queued) >= QUEUE_LIMIT:
            return
        self._queued.add(ident)
        self._queue.put_nowait((es, bucket, key))

    async def drain(self) -> None:
        """Wait until the background queue is empty and idle (for tests and shutdown)."""
        while self._queued or self._busy:
            await asyncio.sleep(0.01)

    async def _worker(self) -> None:
        while True:
            es, bucket, key = await self._queue.get()
            self._busy = True
            try:
                # A read found damage: maybe a drive was wiped a moment ago. Notice that before writing
                # to it, or it would hold data without a format (and never pass for a replacement).
                await asyncio.gather(*(d.probe() for d in es.drives if isinstance(d, CheckedDrive)))
                result = await heal_object(es, bucket, key)
                self._repaired_by_reads += int(result.changed)
                for line in result.details:
                    log.info("background heal: %s", line)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background heal of %s/%s failed", bucket, key)
            finally:
                self._queued.discard((es.pool, es.index, bucket, key))
                self._busy = False

    async def _scanner(self) -> None:
        lock_fd = _scanner_lock(self.placement)
        if lock_fd < 0:
            return                         # another process scans
        try:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    report = await self.heal(None)
                    if report.objects_healed or report.failures:
                        log.info("heal scan: %d scanned, %d healed, %d failures", report.objects_scanned,
                                 report.objects_healed, report.failures)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("heal scan failed")
        finally:
            os.close(lock_fd)

    # --- full passes --------------------------------------------------------------------------------
    async def heal(self, bucket: str | None) -> HealReport:
        """One pass. A full pass (``bucket`` None) also restores wiped drives' formats first and, when
        nothing failed, returns the drives it healed back to listings."""
        report = HealReport()
        await self.drain()                    # repairs that reads queued count as theirs
        report.repaired_by_reads, self._repaired_by_reads = self._repaired_by_reads, 0
        healing = await self._heal_formats(report)
        if bucket is not None:
            await self.buckets.get(bucket)
            buckets = [bucket]
        else:
            buckets = [b.name for b in await self.buckets.list()]
        await self._heal_config(report)
        for name in buckets:
            await self._heal_bucket_dirs(name, report)
            for es in self.placement.all_sets:
                async for key in _all_keys(es, name):
                    report.objects_scanned += 1
                    result = await heal_object(es, name, key)
                    if result.changed:
                        report.objects_healed += 1
                    report.shards_rebuilt += result.shards_rebuilt
                    report.metadata_repaired += result.metadata_repaired
                    report.failures += int(result.failed)
                    report.details.extend(result.details)
        if bucket is None and not report.failures:
            for drive in healing:
                await drive.finish_healing()
                report.details.append(f"{drive.endpoint}: healed completely")
        elif healing:
            report.details.append(f"{len(healing)} drive(s) still healing: the next full pass resumes")
        return report

    async def _heal_formats(self, report: HealReport) -> list[CheckedDrive]:
        """Check every drive now; give a drive that lost its format (wiped while we run, or since) its
        slot's identity back, if its set can be read to heal it. Returns the drives being healed."""
        healing: list[CheckedDrive] = []
        for es in self.placement.all_sets:
            drives = [d for d in es.drives if isinstance(d, CheckedDrive)]
            await asyncio.gather(*(d.probe() for d in drives))
            readable = len(es.listable_drives()) >= es.default_k
            for drive in drives:
                if drive.state == "unformatted":
                    await self._restore_format(drive, readable, report)
                if drive.state == "healing":
                    healing.append(drive)
        return healing

    async def _restore_format(self, drive: CheckedDrive, readable: bool, report: HealReport) -> None:
        report.failures += 1                  # until it is restored
        if not readable:
            report.details.append(f"{drive.endpoint}: unformatted, and its set has too few drives to heal "
                                  "it from; left as it is")
            return
        try:
            restored = await drive.restore_format()
        except DriveError as exc:
            report.details.append(f"{drive.endpoint}: cannot restore format: {exc}")
            return
        if not restored:
            report.details.append(f"{drive.endpoint}: carries another identity or unknown data; not touched")
            return
        report.failures -= 1
        report.metadata_repaired += 1
        report.details.append(f"{drive.endpoint}: restored the drive's format; healing it")

    async def _heal_config(self, report: HealReport) -> None:
        """The config records (bucket metadata among them) heal like objects of the system volume."""
        try:
            results = await self.buckets.config.heal()
        except InsufficientReadQuorum:
            report.failures += 1
            report.details.append("config records: too few drives answer to list them")
            return
        for result in results:
            report.shards_rebuilt += result.shards_rebuilt
            report.metadata_repaired += result.metadata_repaired
            report.failures += int(result.failed)
            report.details.extend(result.details)

    async def _heal_bucket_dirs(self, bucket: str, report: HealReport) -> None:
        for es in self.placement.all_sets:
            for drive in es.drives:
                if drive is None:
                    continue
                try:
                    if not await drive.volume_exists(bucket):
                        await drive.make_volume(bucket)
                        report.metadata_repaired += 1
                        report.details.append(f"{bucket}: recreated bucket directory on {drive.endpoint}")
                except DriveError as exc:
                    report.failures += 1
                    report.details.append(f"{bucket}: cannot heal bucket on {drive.endpoint}: {exc}")


async def _all_keys(es: ErasureSet, bucket: str) -> AsyncIterator[str]:
    """Every key any online drive of the set holds, in order (the union of all drives' walks)."""
    drives = [d for d in es.drives if d is not None]
    cursor = ""
    while True:
        walks = await asyncio.gather(*(_walk(d, bucket, cursor) for d in drives))
        full = [w[-1] for w in walks if len(w) >= WALK_BATCH]
        horizon = min(full) if full else None
        keys = sorted({k for w in walks for k in w if horizon is None or k <= horizon})
        for key in keys:
            yield key
        if horizon is None:
            return
        cursor = horizon


async def _walk(drive: object, bucket: str, cursor: str) -> list[str]:
    try:
        entries = await drive.walk(bucket, "", cursor, WALK_BATCH, False)  # type: ignore[attr-defined]
    except DriveError:
        return []
    return [e.key for e in entries]


def _scanner_lock(placement: Placement) -> int:
    for es in placement.all_sets:
        for checked in es.drives:
            drive = checked.inner if isinstance(checked, CheckedDrive) else checked
            if isinstance(drive, LocalDrive):
                try:
                    fd = os.open(os.path.join(drive.sys_root, "scanner.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                except OSError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except OSError:
                    os.close(fd)
                    return -1
    return -1
