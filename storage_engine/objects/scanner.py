"""The bucket usage scanner: objects, versions and bytes per bucket (the ``rustfs_bucket_*`` metrics), and
on the same walk the expirations and transitions of buckets with lifecycle rules (``objects/lifecycle.py``);
each pass first finishes what the tier journal holds (``lifecycle/transition.py``).

One process of the cluster scans at a time (the leader rule below); it lists every bucket's versions
through the erasure sets' quorum listings, a page at a time, and after each page sleeps the time the page
took times ``scanner_delay`` (at most ``MAX_WAIT_SECONDS``), as MinIO's data scanner does, so a scan costs
at most ``1 / (1 + delay)`` of one listing client. The result goes to the config store (kind ``usage``,
``metrics/usage.py``), where every node's metrics read it. A pass starts every ``scanner_interval_seconds``.

Leader rule: the process scans when the first drive of the config store's erasure set that is online (as
it sees the drives) is one of its own, and, among the worker processes of one node, when it holds the
``usage-scanner.lock`` file lock on that drive. When the leader's node goes down its drives go offline
and the next node takes over at its next pass.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass

from storage_engine.cluster.config_store import ConfigStore
from storage_engine.config import RESERVED_STORAGE_CLASSES
from storage_engine.drives.base import DriveError
from storage_engine.drives.health import CheckedDrive
from storage_engine.drives.local import LocalDrive
from storage_engine.errors import InsufficientReadQuorum, InsufficientWriteQuorum, NoSuchBucket
from storage_engine.metrics.usage import USAGE_KIND, USAGE_NAME, BucketUsage, UsageReport
from storage_engine.lifecycle import rules
from storage_engine.lifecycle.transition import TransitionQueue
from storage_engine.objects import listing
from storage_engine.objects.buckets import BucketStore
from storage_engine.objects.lifecycle import Expirer
from storage_engine.objects.placement import Placement

log = logging.getLogger(__name__)

PAGE_SIZE = 250                 # versions listed per page: the pacing step
MAX_WAIT_SECONDS = 1.0          # the longest pause after one page (MinIO's default max wait)
LOCK_FILE = "usage-scanner.lock"
NO_RULES = rules.Lifecycle(())
CURSOR_KIND, CURSOR_NAME = "scanner", "cursor"
CURSOR_SECONDS = 1.0            # the position is saved at most this often


@dataclass
class Cursor:
    """Where a cut pass resumes: the report so far, the bucket being walked and the listing position in it."""

    report: UsageReport
    bucket: str
    key_marker: str
    version_marker: str

    def encode(self) -> bytes:
        return json.dumps({"report": self.report.encode().decode(), "bucket": self.bucket, "key": self.key_marker,
                           "version": self.version_marker}).encode()

    @classmethod
    def decode(cls, data: bytes | None) -> Cursor | None:
        if data is None:
            return None
        try:
            doc = json.loads(data)
            report = UsageReport.decode(doc["report"].encode())
            if report is None:
                return None
            return cls(report, str(doc["bucket"]), str(doc["key"]), str(doc["version"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None                       # damaged: the pass starts over


@dataclass
class IlmReport:
    """What one lifecycle run did (``admin ilm-run``)."""

    buckets: int = 0
    versions_expired: int = 0          # versions removed and delete markers placed
    versions_transitioned: int = 0
    uploads_aborted: int = 0
    failures: int = 0                  # keys whose rules could not be applied (quorum, drives): retried


@dataclass
class BucketPass:
    """One walk of a bucket: its usage, and what its lifecycle rules did."""

    usage: BucketUsage
    expired: int = 0
    transitioned: int = 0
    aborted: int = 0
    failures: int = 0


class UsageScanner:
    def __init__(self, placement: Placement, buckets: BucketStore, config: ConfigStore, *,
                 interval: float, delay: float, expirer: Expirer | None = None) -> None:
        self.placement = placement
        self.expirer = expirer
        # The walk's transitions run apart from it (``lifecycle.transition.TransitionQueue``).
        self.queue = TransitionQueue(expirer.transitions) if expirer is not None else None
        self.buckets = buckets
        self.config = config
        self.interval = interval
        self.delay = delay
        self._task: asyncio.Task[None] | None = None
        self._lock_fd = -1
        self._cursor_saved = False

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="usage-scanner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.queue is not None:
            await self.queue.stop()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.is_leader():
                continue
            try:
                if self.expirer is not None:
                    await self.expirer.transitions.replay()
                report = await self.scan()
                await self.config.put(USAGE_KIND, USAGE_NAME, report.encode())
            except asyncio.CancelledError:
                raise
            except (InsufficientReadQuorum, InsufficientWriteQuorum, DriveError) as exc:
                log.warning("usage scan not saved: %s", exc)
            except Exception:
                log.exception("usage scan failed")

    # --- leader rule --------------------------------------------------------------------------------
    def is_leader(self) -> bool:
        """This process scans (see the module docstring)."""
        first = next((d for d in self.placement.all_sets[0].drives
                      if d is not None and (not isinstance(d, CheckedDrive) or d.online)), None)
        inner = first.inner if isinstance(first, CheckedDrive) else first
        if not isinstance(inner, LocalDrive):
            self._release()
            return False
        if self._lock_fd >= 0:
            return True
        try:
            fd = os.open(os.path.join(inner.sys_root, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # --- one pass -----------------------------------------------------------------------------------
    async def scan(self) -> UsageReport:
        """Count every bucket (and apply their rules), paced, in name order; the report is returned, not
        saved. The position is kept in the config store as the walk goes (``Cursor``), so a pass cut by a
        restart (or a new leader) resumes where it stopped instead of starting over."""
        start = time.monotonic()
        cursor = Cursor.decode(await self.config.get(CURSOR_KIND, CURSOR_NAME))
        if cursor is not None:
            log.info("usage scan: resuming in bucket %s after key %r", cursor.bucket, cursor.key_marker)
        report = cursor.report if cursor is not None else UsageReport()
        for name in sorted(info.name for info in await self.buckets.list()):
            resume = cursor is not None and name == cursor.bucket
            if cursor is not None and name < cursor.bucket and name in report.buckets:
                continue                      # counted before the restart
            try:
                report.buckets[name] = (await self._scan_bucket(
                    name, cursor=cursor if resume else None, partial=report)).usage
            except NoSuchBucket:
                report.buckets.pop(name, None)
                continue                      # deleted while we scanned
        if cursor is not None or self._cursor_saved:
            await self.config.delete(CURSOR_KIND, CURSOR_NAME)
            self._cursor_saved = False
        report.duration = time.monotonic() - start
        report.completed = time.time()
        return report

    async def run_lifecycle(self, bucket: str | None = None) -> IlmReport:
        """Apply the lifecycle rules of ``bucket`` (or every bucket) now, unpaced (``admin ilm-run``)."""
        report = IlmReport()
        if self.expirer is not None:
            await self.expirer.transitions.replay()
        names = [bucket] if bucket else [info.name for info in await self.buckets.list()]
        for name in names:
            try:
                done = await self._scan_bucket(name, paced=False)
            except NoSuchBucket:
                continue
            report.buckets += 1
            report.versions_expired += done.expired
            report.versions_transitioned += done.transitioned
            report.uploads_aborted += done.aborted
            report.failures += done.failures
        return report

    async def _scan_bucket(self, bucket: str, paced: bool = True, cursor: Cursor | None = None,
                           partial: UsageReport | None = None) -> BucketPass:
        """The bucket's usage, and what its lifecycle rules did. ``partial``: the pass's report so far, saved
        with the position after each page (at most every ``CURSOR_SECONDS``); ``cursor``: where to resume."""
        done = BucketPass(cursor.report.buckets.get(bucket, BucketUsage()) if cursor is not None else BucketUsage())
        usage = done.usage
        saved = time.monotonic()
        meta = await self.buckets.get(bucket)
        # The bucket's lifecycle rules: each listed key they may reach is judged as the walk passes it.
        lifecycle = rules.parse(meta.lifecycle) if meta.lifecycle is not None else NO_RULES
        expirer = self.expirer
        key_marker, version_marker = (cursor.key_marker, cursor.version_marker) if cursor is not None else ("", "")
        while True:
            began = time.monotonic()
            page = await listing.list_versions(self.placement.all_sets, bucket, "", "", key_marker,
                                               version_marker, PAGE_SIZE)
            for version in page.versions:
                if version.delete_marker:
                    continue
                usage.versions += 1
                usage.bytes += version.size
                usage.objects += int(version.is_latest)
            if expirer is not None:
                # Keys the rules may reach, and transitioned ones (a restored copy may have had its days).
                for key in dict.fromkeys(v.key for v in page.versions if lifecycle.may_apply(v.key)
                                         or v.storage_class not in RESERVED_STORAGE_CLASSES):
                    try:
                        result = await expirer.key(meta, lifecycle, key, self.queue if paced else None)
                        done.expired += result.expired
                        done.transitioned += result.transitioned
                        done.failures += result.failed
                    except (InsufficientReadQuorum, InsufficientWriteQuorum, DriveError) as exc:
                        done.failures += 1
                        expirer.metrics.errors.inc()
                        log.warning("lifecycle: %s/%s not expired this pass: %s", bucket, key, exc)
            if partial is not None and page.is_truncated and page.next_key_marker is not None \
                    and time.monotonic() - saved >= CURSOR_SECONDS:
                partial.buckets[bucket] = usage
                await self.config.put(CURSOR_KIND, CURSOR_NAME, Cursor(
                    partial, bucket, page.next_key_marker, page.next_version_id_marker or "").encode())
                self._cursor_saved = True
                saved = time.monotonic()
            if paced:
                await self._pace(time.monotonic() - began)
            if not page.is_truncated or page.next_key_marker is None:
                if expirer is not None:
                    done.aborted = await expirer.stale_uploads(meta, lifecycle)
                return done
            key_marker, version_marker = page.next_key_marker, page.next_version_id_marker or ""

    async def _pace(self, elapsed: float) -> None:
        if self.delay > 0:
            await asyncio.sleep(min(elapsed * self.delay, MAX_WAIT_SECONDS))
