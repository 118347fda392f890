"""Healing at the object layer: full passes over buckets, and a background healer.

- ``heal(bucket | None)`` walks every key any drive knows (the union, so keys missing from some drives
  are found too), heals each, and reports counts plus a line per key it touched. The config records
  (bucket metadata among them) and bucket directories are healed first, so a replaced drive gets its
  buckets back.
- Reads that hit a missing or rotten shard, or drives with stale metadata, queue the key; a background
  task heals queued keys one at a time.
- Every ``heal_interval_seconds`` (0 = never) one process (whoever holds the scanner lock) runs a full pass.
  It heals the multipart uploads in progress too (records and part shards).
- Writes that reach their quorum but miss drives are remembered (MinIO's MRF): the key, or the upload
  part, and which drives missed it, up to ``MRF_LIMIT`` entries; past that, the set as a whole. When a
  missed drive takes writes again (it came back, or was never gone), what it missed is healed, without
  waiting for the next full pass.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from storage_engine.drives.base import Drive, DriveError
from storage_engine.drives.health import CheckedDrive
from storage_engine.drives.local import LocalDrive
from storage_engine.erasure.heal import ObjectHealResult, heal_object, takes_writes
from storage_engine.erasure.set import ErasureSet
from storage_engine.metrics.cluster import heal_metrics
from storage_engine.errors import InsufficientReadQuorum
from storage_engine.objects.buckets import BucketStore
from storage_engine.objects.multipart import Multipart, UploadRef
from storage_engine.objects.placement import Placement
from storage_engine.objects.types import HealReport

log = logging.getLogger(__name__)

WALK_BATCH = 1000
QUEUE_LIMIT = 10000
MRF_LIMIT = 100_000            # remembered partial writes; past that, their sets get a pass of their own
MRF_DELAY_SECONDS = 1.0        # a partial write is healed no sooner: its drives may be coming back
MRF_RETRY_SECONDS = 30.0       # reachable entries whose heal failed are retried this often...
MRF_ATTEMPTS = 3               # ...this many times, then left to the full passes

# What a write missed: an object (bucket, key), an upload or one of its parts, or (None) anything in the set.
Missed = tuple[str, str] | UploadRef | None


@dataclass(slots=True)
class _MissedDrives:
    positions: set[int] = field(default_factory=set)
    failures: int = 0


@dataclass(slots=True)
class HealStats:
    """What this process healed since it started (the rustfs_heal_* metrics, ``metrics/cluster.py``)."""

    objects_healed: int = 0           # objects (and uploads) with a shard or a record rebuilt
    bytes_healed: int = 0             # bytes of the shards rebuilt
    errors: int = 0                   # heals that failed (a drive or a shard could not be repaired)
    last_scan_completed: float = 0.0  # end of the last full pass (seconds since the epoch); 0 = none yet


class Healer:
    def __init__(self, placement: Placement, buckets: BucketStore, multipart: Multipart, interval: int) -> None:
        self.placement = placement
        self.buckets = buckets
        self.multipart = multipart
        self.interval = interval
        self._missed: dict[tuple[int, int], dict[Missed, _MissedDrives]] = {}
        self._missed_count = 0
        self._mrf_wake = asyncio.Event()
        self._queue: asyncio.Queue[tuple[ErasureSet, str, str]] = asyncio.Queue()
        self._queued: set[tuple[int, int, str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = False
        self._repaired_by_reads = 0           # keys the background worker repaired since the last full pass
        self.stats = HealStats()
        self._metrics = heal_metrics()
        self._queue_changed()                 # the process's gauge shows this healer's (empty) queue from now

    def queue_length(self) -> int:
        """Keys queued by reads plus partial writes waiting (the rustfs_heal_queue_objects gauge)."""
        return len(self._queued) + self._missed_count

    def _count(self, result: ObjectHealResult) -> ObjectHealResult:
        stats = self.stats
        stats.objects_healed += int(result.changed)
        stats.bytes_healed += result.bytes_rebuilt
        stats.errors += int(result.failed)
        self._metrics.healed(result.changed, result.bytes_rebuilt, result.failed)
        return result

    def _failed(self) -> None:
        self.stats.errors += 1
        self._metrics.errors.inc()

    def _queue_changed(self) -> None:
        self._metrics.queue.set(self.queue_length())

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._worker(), name="heal-worker"))
        self._tasks.append(asyncio.create_task(self._mrf_worker(), name="heal-mrf"))
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
        self._queue_changed()

    # --- partial writes (MRF) ------------------------------------------------------------------------
    def missed_object(self, es: ErasureSet, bucket: str, key: str, positions: list[int]) -> None:
        """A commit of ``bucket/key`` reached its quorum but not the drives at ``positions``."""
        self._remember(es, (bucket, key), positions)

    def missed_upload(self, es: ErasureSet, ref: UploadRef, positions: list[int]) -> None:
        """An upload's record, or one of its parts, reached its quorum but not ``positions``."""
        self._remember(es, ref, positions)

    def drive_returned(self, drive: CheckedDrive) -> None:
        """A drive takes writes again: heal what its set missed."""
        self._mrf_wake.set()

    def missed_writes(self) -> int:
        """How many partial writes wait to be healed (a whole-set entry counts once)."""
        return self._missed_count

    def _remember(self, es: ErasureSet, item: Missed, positions: list[int]) -> None:
        entries = self._missed.setdefault((es.pool, es.index), {})
        if item not in entries:
            if self._missed_count >= MRF_LIMIT:
                item = None                   # too many to remember one by one: the whole set, then
            if item not in entries:
                entries[item] = _MissedDrives()
                self._missed_count += 1
                self._queue_changed()
        entries[item].positions.update(positions)
        self._mrf_wake.set()

    async def _mrf_worker(self) -> None:
        while True:
            try:
                async with asyncio.timeout(MRF_RETRY_SECONDS if self._missed_count else None):
                    await self._mrf_wake.wait()
            except TimeoutError:
                pass
            await asyncio.sleep(MRF_DELAY_SECONDS)
            self._mrf_wake.clear()
            try:
                await self._heal_missed()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("healing partial writes failed")

    async def _heal_missed(self) -> None:
        """Heal every remembered write that a missed drive can take now."""
        for es in self.placement.all_sets:
            entries = self._missed.get((es.pool, es.index), {})
            for item, missed in list(entries.items()):
                reachable = {pos for pos in missed.positions if takes_writes(es.drives[pos])}
                if not reachable:
                    continue                  # still away: its return wakes us
                # Out while healed: a write that misses a drive meanwhile makes an entry of its own.
                del entries[item]
                self._missed_count -= 1
                self._queue_changed()
                failed = await self._heal_missed_item(es, item)
                if failed and all(takes_writes(d) for d in es.drives):
                    missed.failures += 1      # nothing offline explains it: give up after a few tries
                    if missed.failures >= MRF_ATTEMPTS:
                        log.warning("%s: gave up healing %r after %d attempts; full passes will",
                                    es, item, missed.failures)
                        continue
                else:
                    # Every heal covers every drive: drives still away get it all again when they return.
                    missed.positions -= reachable
                if missed.positions:
                    self._keep(es, item, missed)

    def _keep(self, es: ErasureSet, item: Missed, missed: _MissedDrives) -> None:
        entries = self._missed.setdefault((es.pool, es.index), {})
        if item in entries:
            entries[item].positions.update(missed.positions)
        else:
            entries[item] = missed
            self._missed_count += 1
            self._queue_changed()

    async def _heal_missed_item(self, es: ErasureSet, item: Missed) -> bool:
        """Heal one remembered write on every drive that takes writes; whether anything failed."""
        try:
            if item is None:
                report = HealReport()
                await self._heal_set(es, [b.name for b in await self.buckets.list()], report)
                result = ObjectHealResult(report.shards_rebuilt, report.metadata_repaired, bool(report.failures))
            elif isinstance(item, UploadRef):
                result = self._count(await self.multipart.heal_upload(es, item))
            else:
                result = self._count(await heal_object(es, *item))
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failed()
            log.exception("healing the partial write %r in %s failed", item, es)
            return True
        if result.changed:
            log.info("healed a partial write in %s: %r (%d shards rebuilt, %d records repaired)", es, item,
                     result.shards_rebuilt, result.metadata_repaired)
        return result.failed

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
                result = self._count(await heal_object(es, bucket, key))
                self._repaired_by_reads += int(result.changed)
                for line in result.details:
                    log.info("background heal: %s", line)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._failed()
                log.exception("background heal of %s/%s failed", bucket, key)
            finally:
                self._queued.discard((es.pool, es.index, bucket, key))
                self._busy = False
                self._queue_changed()

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
            await self._heal_set(es, buckets, report)
        if bucket is None and not report.failures:
            for drive in healing:
                await drive.finish_healing()
                report.details.append(f"{drive.endpoint}: healed completely")
        elif healing:
            report.details.append(f"{len(healing)} drive(s) still healing: the next full pass resumes")
        if bucket is None:
            self.stats.last_scan_completed = time.time()
            self._metrics.last_scan.set(self.stats.last_scan_completed)
        return report

    async def _heal_set(self, es: ErasureSet, buckets: list[str], report: HealReport) -> None:
        """Every key of ``buckets`` in one set, then the set's uploads in progress in them."""
        for name in buckets:
            async for key in _all_keys(es, name):
                report.objects_scanned += 1
                result = self._count(await heal_object(es, name, key))
                report.objects_healed += int(result.changed)
                _add(report, result)
        for upload in await self.multipart.scan(es):
            if upload.bucket in buckets:
                _add(report, self._count(await self.multipart.heal_upload(
                    es, UploadRef(upload.bucket, upload.key, upload.upload_id))))

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
            _add(report, result)

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


def _add(report: HealReport, result: ObjectHealResult) -> None:
    report.shards_rebuilt += result.shards_rebuilt
    report.metadata_repaired += result.metadata_repaired
    report.failures += int(result.failed)
    report.details.extend(result.details)


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


async def _walk(drive: Drive, bucket: str, cursor: str) -> list[str]:
    try:
        entries = await drive.walk(bucket, "", cursor, WALK_BATCH, False)
    except DriveError:
        return []
    return [key for key, _ in entries]


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
