"""The admin re-wrap: every SSE-S3/SSE-KMS version's data key under its KMS key's newest version.

After a key rotation (Vault ``transit/keys/<k>/rotate``) old objects stay readable, wrapped under the
old key version. A re-wrap pass asks the KMS to wrap each stored data key again under the newest
version (``Kms.rewrap``; Vault never returns the data key on that path) and replaces only the
envelope's wrapped key (``"wk"``): the data key, hence the sealed object key and the data, are
unchanged. Once a pass reports no failures, old key versions may be retired (Vault:
``min_decryption_version``).

Per key, the KMS calls happen without the key lock; the new wrapped keys are then committed under the
lock to the versions that still hold the wrapped key that was re-wrapped (one changed meanwhile is left
for the next pass). SSE-C versions have no KMS key and are not counted; versions of another KMS backend
than the configured one are skipped (reported). Uploads in progress keep their wrapped key (they
complete or expire). A KMS that is unavailable ends the pass (KMSUnavailable); any other KMS error
fails that version only.
"""

from __future__ import annotations

import dataclasses
import logging

from storage_engine import errors
from storage_engine.crypto.envelope import Envelope
from storage_engine.crypto.kms import Kms, KmsError, KmsUnavailable
from storage_engine.crypto.sse import SseService
from storage_engine.erasure.metadata import Version
from storage_engine.erasure.set import ErasureSet
from storage_engine.objects.buckets import BucketStore
from storage_engine.objects.healer import _all_keys  # pyright: ignore[reportPrivateUsage]
from storage_engine.objects.placement import Placement
from storage_engine.objects.types import RewrapReport

log = logging.getLogger(__name__)

__all__ = ["RewrapReport", "rewrap_keys"]


async def rewrap_keys(placement: Placement, buckets: BucketStore, sse: SseService,
                      bucket: str | None = None) -> RewrapReport:
    """Re-wrap every version of ``bucket`` (None: every bucket). NoSuchBucket, KMSUnavailable."""
    if bucket is not None:
        await buckets.get(bucket)
        names = [bucket]
    else:
        names = [b.name for b in await buckets.list()]
    kms = await sse.kms()
    report = RewrapReport()
    for es in placement.all_sets:
        for name in names:
            async for key in _all_keys(es, name):
                await _rewrap_key(es, name, key, kms, sse, report)
    return report


def _identity(version: Version) -> tuple[str, str, float]:
    return version.version_id, version.data_id, version.mod_time


async def _rewrap_key(es: ErasureSet, bucket: str, key: str, kms: Kms, sse: SseService,
                      report: RewrapReport) -> None:
    view = await es.get_meta(bucket, key)
    if view is None:
        return
    pending: dict[tuple[str, str, float], tuple[bytes, bytes]] = {}     # identity -> (old wk, new wk)
    for version in view.versions:
        what = f"{bucket}/{key} version {version.version_id}"
        envelope = _kms_envelope(version, what, sse, report)
        if envelope is None:
            continue
        report.versions_scanned += 1
        assert envelope.kms_key_id is not None and envelope.wrapped_key is not None
        if envelope.kms_backend != kms.backend:
            report.skipped += 1
            report.details.append(f"{what}: wrapped by the {envelope.kms_backend} KMS, not the configured "
                                  f"{kms.backend} one; skipped")
            continue
        try:
            wrapped = await kms.rewrap(envelope.kms_key_id, envelope.wrapped_key)
        except KmsUnavailable as exc:
            raise errors.KMSUnavailable(f"The KMS is unavailable: {exc}") from exc
        except KmsError as exc:
            report.failures += 1
            report.details.append(f"{what}: {exc.__class__.__name__}: {exc}")
            continue
        if wrapped == envelope.wrapped_key:
            report.unchanged += 1
        else:
            pending[_identity(version)] = (envelope.wrapped_key, wrapped)
    if pending:
        await _commit(es, bucket, key, pending, sse, report)


def _kms_envelope(version: Version, what: str, sse: SseService, report: RewrapReport) -> Envelope | None:
    """The envelope of a version with a KMS-wrapped data key; None for plaintext, SSE-C, delete markers."""
    if version.delete_marker or version.sse is None:
        return None
    try:
        envelope = sse.envelope_of(version.sse, what)
    except errors.S3Error:
        report.failures += 1
        report.details.append(f"{what}: the encryption envelope is damaged")
        return None
    if envelope is None or envelope.mode == "C":
        return None
    return envelope


async def _commit(es: ErasureSet, bucket: str, key: str, pending: dict[tuple[str, str, float], tuple[bytes, bytes]],
                  sse: SseService, report: RewrapReport) -> None:
    """Under the key lock: the new wrapped keys into the versions that still hold the re-wrapped ones."""
    done = 0
    async with es.lock(bucket, key):
        view = await es.get_meta(bucket, key)
        updated: list[Version] = []
        for version in view.versions if view is not None else []:
            change = pending.get(_identity(version))
            envelope = sse.envelope_of(version.sse, f"{bucket}/{key}") if change and version.sse else None
            if change is None or envelope is None or envelope.wrapped_key != change[0]:
                updated.append(version)
                continue
            new = dataclasses.replace(envelope, wrapped_key=change[1])
            updated.append(dataclasses.replace(version, sse=new.pack()))
            done += 1
        if done:
            await es.commit(bucket, key, view, updated)
    report.rewrapped += done
    if len(pending) > done:
        report.skipped += len(pending) - done
        report.details.append(f"{bucket}/{key}: {len(pending) - done} version(s) changed during the pass; "
                              "the next pass re-wraps them")
