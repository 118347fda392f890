"""Applying a bucket's lifecycle expirations to one key (docs/tiering.md), for the scanner.

Every decision is taken on the key's metadata as it is under the key's lock, so a version written or
deleted since the scanner listed the key is judged as it is now: a fresh overwrite is never expired for
its predecessor's age. Removed versions' data goes after the commit, as a DELETE's does. Incomplete
multipart uploads older than an AbortIncompleteMultipartUpload rule allows are aborted. Versions due for a
transition move after the expirations, each by ``lifecycle.transition.Transitions`` (no key lock held while
the bytes travel).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from storage_engine import errors
from storage_engine.erasure.metadata import Version
from storage_engine.lifecycle.rules import NOTHING, Action, Lifecycle, VersionFacts, expiry_time
from storage_engine.lifecycle.tiers import TierError
from storage_engine.lifecycle.transition import TransitionQueue, Transitions
from storage_engine.metrics.ilm import ilm_metrics
from storage_engine.objects import object_lock, versions
from storage_engine.objects.buckets import BucketMeta
from storage_engine.objects.multipart import Multipart
from storage_engine.objects.placement import Placement

MAX_UPLOADS = 100_000          # uploads looked at per bucket and pass

log = logging.getLogger(__name__)


@dataclass
class KeyResult:
    expired: int = 0               # versions removed and delete markers placed
    transitioned: int = 0
    failed: int = 0                # transitions that failed (the next pass retries)
    restores_ended: int = 0        # restored copies dropped (their days are over)


def facts_of(key: str, stored: list[Version]) -> list[VersionFacts]:
    """What the rules see of each version of ``key`` (newest first, as stored)."""
    return [VersionFacts(key, v.mod_time, v.size, v.tags, is_latest=i == 0, delete_marker=v.delete_marker,
                         successor_mod_time=stored[i - 1].mod_time if i else None,
                         newer_noncurrent=max(i - 1, 0), only_version=len(stored) == 1,
                         tier=v.tier.tier if v.tier is not None else "")
            for i, v in enumerate(stored)]


class Expirer:
    """Expires what a bucket's rules say is due; ``clock`` is the rules' "now" (``ilm_clock_offset_seconds``
    shifts it in tests)."""

    def __init__(self, placement: Placement, multipart: Multipart, transitions: Transitions,
                 clock: Callable[[], float] = time.time) -> None:
        self.placement = placement
        self.multipart = multipart
        self.transitions = transitions
        self.clock = clock
        self.metrics = ilm_metrics()

    async def key(self, bucket: BucketMeta, lifecycle: Lifecycle, key: str,
                  queue: TransitionQueue | None = None) -> KeyResult:
        """Apply the due expirations to ``key``, then its due transitions: handed to ``queue`` (the walk does
        not wait for them), or done here (``ilm-run``: the report counts them)."""
        result = KeyResult()
        es, found = await self.placement.locate(bucket.name, key)
        if found is None:
            return result
        now = self.clock()
        async with es.lock(bucket.name, key):
            view = await es.get_meta(bucket.name, key)
            if view is None:
                return result
            stored = view.versions
            due = [lifecycle.due(f, now) for f in facts_of(key, stored)]
            # A version under object lock is never expired (retention checked on the real clock, never the
            # rules' shifted one); the current version's expiration only adds a delete marker, as on AWS.
            due = [NOTHING if d.action is Action.EXPIRE_VERSION and object_lock.is_protected(v) else d
                   for v, d in zip(stored, due)]
            kept = [v for v, d in zip(stored, due) if d.action is not Action.EXPIRE_VERSION]
            removed = [v for v, d in zip(stored, due) if d.action is Action.EXPIRE_VERSION]
            moves = [(v.version_id, d.tier) for v, d in zip(stored, due) if d.action is Action.TRANSITION]
            restores_ended = any(v.tier is not None and 0 < v.tier.restored_until <= now for v in stored)
            changes = len(removed)
            if due and due[0].action is Action.EXPIRE:
                after, gone, _ = versions.apply_delete(kept, None, bucket.versioning, time.time())
                if not any(object_lock.is_protected(v) for v in gone):
                    kept = after
                    removed += gone
                    changes += 1
            if changes:
                await es.commit(bucket.name, key, view, kept)
        if changes:
            await self.transitions.drop(es, bucket.name, key, removed)
            self.metrics.expired.inc(changes)
            result.expired = changes
        if restores_ended:
            result.restores_ended = await self.transitions.end_restore(es, bucket.name, key, now)
        for version_id, tier in moves:
            if queue is not None:
                queue.offer(bucket.name, key, version_id, tier)
                continue
            try:
                result.transitioned += await self.transitions.transition(bucket.name, key, version_id, tier)
            except (TierError, errors.S3Error) as exc:
                result.failed += 1
                self.metrics.errors.inc()
                log.warning("lifecycle: %s/%s (%s) not moved to %s this pass: %s", bucket.name, key, version_id,
                            tier, exc)
        return result

    async def stale_uploads(self, bucket: BucketMeta, lifecycle: Lifecycle) -> int:
        """Abort the bucket's incomplete multipart uploads older than its rules allow; returns how many."""
        if not any(r.enabled and r.abort_multipart_days is not None for r in lifecycle.rules):
            return 0
        now = self.clock()
        aborted = 0
        listed = await self.multipart.list_uploads(bucket.name, "", "", "", "", MAX_UPLOADS)
        for upload in listed.uploads:
            days = lifecycle.abort_multipart_days(upload.key)
            if days is None or expiry_time(upload.initiated, days) > now:
                continue
            try:
                await self.multipart.abort(bucket.name, upload.key, upload.upload_id)
            except errors.NoSuchUpload:
                continue                      # completed or aborted meanwhile
            aborted += 1
        self.metrics.aborted.inc(aborted)
        return aborted
