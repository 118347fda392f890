"""Default lifecycle configurations from the settings (``RUSTFS_LIFECYCLE_DEFAULTS``: bucket or ``*`` ->
LifecycleConfiguration XML), put on buckets at start and at CreateBucket (docs/tiering.md "The contract").

Each default is parsed and written back by ``lifecycle.rules`` exactly as PutBucketLifecycleConfiguration
does, then kept in the bucket's record with the default it came from (``BucketMeta.lifecycle_default``). So
a bucket gets a default once: a configuration a user put or deleted later is left alone, while one still
equal to the last default follows the operator's new default.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from storage_engine import errors
from storage_engine.lifecycle import rules
from storage_engine.objects.buckets import BucketMeta, BucketStore

log = logging.getLogger(__name__)

EVERY_BUCKET = "*"


def check_defaults(defaults: Mapping[str, str]) -> None:
    """Raise ValueError naming the bucket whose default does not parse (tiers are checked when applied)."""
    for bucket, body in defaults.items():
        try:
            rules.parse(body.encode())
        except errors.S3Error as exc:
            raise ValueError(f"lifecycle_defaults[{bucket!r}]: {exc.code}: {exc.message}") from None


class LifecycleDefaults:
    def __init__(self, defaults: Mapping[str, str], buckets: BucketStore,
                 tier_names: Callable[[], Awaitable[set[str]]]) -> None:
        self._defaults = dict(defaults)
        self._buckets = buckets
        self._tier_names = tier_names

    async def apply_all(self) -> None:
        if not self._defaults:
            return
        for info in await self._buckets.list():
            await self.apply(info.name)

    async def apply(self, bucket: str) -> None:
        """Put the bucket's default (its own, else ``*``) if it has none of a user's; never raises."""
        body = self._defaults.get(bucket, self._defaults.get(EVERY_BUCKET))
        if body is None:
            return
        try:
            names = await self._tier_names()
            document = rules.document(rules.parse(body.encode(), known_tier=names.__contains__))
            await self._buckets.update(bucket, lambda meta: _with_default(meta, document))
        except errors.NoSuchBucket:
            return
        except errors.S3Error as exc:
            log.error("lifecycle default for bucket %s not applied: %s: %s", bucket, exc.code, exc.message)


def _with_default(meta: BucketMeta, document: bytes) -> BucketMeta:
    untouched = meta.lifecycle is None if meta.lifecycle_default is None else meta.lifecycle == meta.lifecycle_default
    if not untouched or meta.lifecycle == document:
        return meta
    return replace(meta, lifecycle=document, lifecycle_default=document)
